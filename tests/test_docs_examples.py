"""Every documented example runs: the fenced code blocks of README.md and docs/*.md.

- ```bash / ```sh blocks run with `bash -e -o pipefail`, ```python blocks with this Python, each
  in its own process, in document order, in the repository root of a clone (the working tree's
  files, this `.venv` linked in) where the main job has already run. BLOCK_TIMEOUT only catches
  a hang: how long an example takes is measured in benchmarks/, not asserted here.
- ```yaml blocks are profiles when they say so (`extends:`): they are written to the clone's
  `params/` (under the path their first comment names, else `params/<name>.yaml`) and loaded
  with `ticketlib.study.profiles.load_profile`; other YAML must parse.
- A block that cannot run here (installing, the two-hour study, a cluster, a network) carries a
  visible marker on the line right before its fence, with its reason:

      <!-- not run: needs a network -->

  and every other block runs. A fence without a language, a marker without a reason and a
  marker that is not right before a fence are errors (checked without running anything).

"The main job" here is `python -m ticketlib study` with the quick profile cut to a few
training steps and 32 dev examples per run (`small_quick_profile`: the same model, experiments,
tasks, levels, seeds and pooling, so the run store has the same layout, runs and tickets as after
`bash scripts/study.sh`, in about a minute instead of nine).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELLS = {"bash", "sh", "shell"}
RUN_LANGUAGES = SHELLS | {"python", "yaml"}
BLOCK_TIMEOUT = 600  # seconds: a hang guard (refresh_notebooks took 180+ s on a slow CI machine)
STUDY_TIMEOUT = 900

FENCE = re.compile(r"^(?P<indent> *)(?P<ticks>`{3,}|~{3,})(?P<info>[^`\n]*)$")
NOT_RUN = re.compile(r"^\s*<!--\s*not run:(?P<reason>.*?)-->\s*$")
MARKER_LIKE = re.compile(r"^\s*<!--\s*not[ -]?run", re.I)
# Blocks that install into an environment: run here they would change this test's own .venv
# (the clone links it), so they must carry a marker and are never run.
INSTALLS = re.compile(
    r"scripts/setup\.sh|scripts/study\.sh|scripts/test\.sh|\bpip3? install|-m pip install|"
    r"\bconda (env )?(create|install)|apt(-get)? install"
)


@dataclass(frozen=True)
class Block:
    doc: str  # path relative to the repository root
    line: int  # line of the opening fence (1-based)
    language: str  # the fence's first word ("" if none)
    code: str
    not_run: str | None  # the marker's reason, None when the block runs

    @property
    def id(self) -> str:
        return f"{self.doc}:{self.line}"


def _closes(line: str, ticks: str) -> bool:
    """A closing fence: the opening's character only, at least as many of it."""
    stripped = line.strip()
    return bool(stripped) and set(stripped) == {ticks[0]} and len(stripped) >= len(ticks)


def parse(text: str, doc: str = "doc.md") -> tuple[list[Block], list[str]]:
    """(the fenced blocks of a Markdown text, problems: fences without a language, markers
    without a reason, markers not right before a fence, unclosed fences)."""
    lines = text.splitlines()
    blocks: list[Block] = []
    problems: list[str] = []
    used_markers: set[int] = set()
    fenced: set[int] = set()
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        indent, ticks = len(opening["indent"]), opening["ticks"]
        language = opening["info"].strip().split(" ")[0].lower() if opening["info"].strip() else ""
        end = next((j for j in range(i + 1, len(lines)) if _closes(lines[j], ticks)), None)
        if end is None:
            problems.append(f"{doc}:{i + 1}: unclosed fence")
            break
        body = lines[i + 1 : end]
        code = "\n".join(line[indent:] if not line[:indent].strip() else line for line in body) + "\n"
        before = i - 1
        while before >= 0 and not lines[before].strip():
            before -= 1
        marker = NOT_RUN.match(lines[before]) if before >= 0 else None
        reason = None
        if marker:
            used_markers.add(before)
            reason = marker["reason"].strip()
            if not reason:
                problems.append(f"{doc}:{before + 1}: a 'not run' marker without a reason")
        if not language:
            problems.append(f"{doc}:{i + 1}: a fence without a language (```bash, ```python, ```yaml, ```text)")
        blocks.append(Block(doc, i + 1, language, code, reason))
        fenced.update(range(i, end + 1))
        i = end + 1
    for n, line in enumerate(lines):
        if MARKER_LIKE.match(line) and n not in used_markers | fenced:
            problems.append(
                f"{doc}:{n + 1}: a 'not run' marker that is not right before a fence "
                f"(or not written '<!-- not run: REASON -->')"
            )
    return blocks, problems


def doc_blocks() -> tuple[list[Block], list[str]]:
    blocks, problems = [], []
    for path in DOCS:
        found, wrong = parse(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
        blocks += found
        problems += wrong
    return blocks, problems


BLOCKS, PROBLEMS = doc_blocks()
RUNNABLE = [b for b in BLOCKS if b.not_run is None and b.language in RUN_LANGUAGES]


# --- checks without running anything -------------------------------------------------------


def test_every_block_runs_or_says_why_not():
    assert PROBLEMS == []
    installing = [b.id for b in RUNNABLE if INSTALLS.search(b.code)]
    assert installing == [], "blocks that install (or run set-up) must carry a 'not run' marker"
    unknown = [
        f"{b.id}: ```{b.language}"
        for b in BLOCKS
        if b.not_run is None
        and b.language not in RUN_LANGUAGES
        and b.language not in ("text", "console-output", "json", "csv")
    ]
    assert unknown == [], "a block in a language this test cannot run must carry a 'not run' marker"


def test_the_parser_finds_blocks_markers_and_mistakes():
    text = (
        "# Doc\n\n```bash\necho 1\n```\n\n<!-- not run: needs a network -->\n\n```python\nimport x\n```\n"
        "- a list:\n\n  ```sh\n  ls\n  ```\n\n<!-- not run: -->\n```bash\nx\n```\n"
        "```\nplain\n```\n<!-- not run: orphan -->\n\ntext\n````python\n```\ninner\n```\n````\n"
    )
    blocks, problems = parse(text)
    assert [(b.line, b.language, b.code, b.not_run) for b in blocks] == [
        (3, "bash", "echo 1\n", None),
        (9, "python", "import x\n", "needs a network"),
        (14, "sh", "ls\n", None),
        (19, "bash", "x\n", ""),
        (22, "", "plain\n", None),
        (28, "python", "```\ninner\n```\n", None),
    ]
    assert problems == [
        "doc.md:18: a 'not run' marker without a reason",
        "doc.md:22: a fence without a language (```bash, ```python, ```yaml, ```text)",
        "doc.md:25: a 'not run' marker that is not right before a fence (or not written '<!-- not run: REASON -->')",
    ]
    unclosed, problems = parse("```bash\nls\n")
    assert unclosed == [] and problems == ["doc.md:1: unclosed fence"]


# --- the examples, run -----------------------------------------------------------------------

SMALL = {"max_train_examples": 32, "max_eval_examples": 32, "max_steps": 2}  # per run, every task


def small_quick_profile(quick: dict) -> dict:
    """The quick profile with a few steps per run: same experiments, grids, levels and seeds. The
    model keeps its 6 layers: README.md's example applies the study's ticket to a fresh offline-minilm."""
    small = dict(quick)
    small["description"] = "the quick profile cut to a few steps per run (tests/test_docs_examples.py)"
    small["defaults"] = {**quick["defaults"], **SMALL, "batch_size": 16}
    small["task_params"] = {
        task: {**params, **SMALL}  # retrieval's dev pool too (quick: 500 sentences)
        for task, params in (quick.get("task_params") or {}).items()
    }
    return small


def test_the_small_quick_profile_has_the_quick_studys_runs_model_and_levels(tmp_path):
    """What the docs blocks rely on: the same runs (names), model, layers, levels and pooling."""
    from ticketlib import sweep
    from ticketlib.study.profiles import load_profile

    quick = yaml.safe_load((ROOT / "params" / "quick.yaml").read_text())
    small = {
        **small_quick_profile(quick),
        "extends": str(ROOT / "params" / "base.yaml"),
        "notebooks": str(ROOT / "notebooks"),
    }
    (tmp_path / "quick.yaml").write_text(yaml.safe_dump(small, sort_keys=False))
    kept = ("model", "num_layers", "levels", "rate", "pooling", "seed", "max_length")

    def runs(profile):
        return {r.name: {k: r.params.get(k) for k in kept} for r in sweep.expand(profile, tmp_path / "store")}

    assert runs(load_profile(tmp_path / "quick.yaml")) == runs(load_profile("quick"))
    cut = [
        r.params
        for r in sweep.expand(load_profile(tmp_path / "quick.yaml"), tmp_path / "store")
        if "max_steps" in r.params
    ]
    assert cut and all(p["max_steps"] == 2 and p["max_eval_examples"] == 32 for p in cut)


def _working_tree_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if listed.returncode != 0:  # not a git checkout: everything but what git would ignore anyway
        skip = {".git", ".venv", "runs", "__pycache__", ".pytest_cache", "build"}
        return [
            str(p.relative_to(ROOT))
            for p in ROOT.rglob("*")
            if p.is_file() and not skip & set(p.relative_to(ROOT).parts)
        ]
    return [name for name in listed.stdout.split("\0") if name]


def make_clone(where: Path) -> Path:
    """A copy of the working tree (what a fresh clone holds) with this environment's .venv."""
    clone = where / "bert-tickets"
    for name in _working_tree_files():
        source = ROOT / name
        if source.is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, clone / name)
    (clone / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    return clone


def clone_env(clone: Path) -> dict:
    """The clone's ticketlib first on the path (kernels inherit it), its own run store."""
    env = {k: v for k, v in os.environ.items() if k not in ("TICKETLIB_RUNS", "PYTHONPATH")}
    env.update(PYTHONPATH=str(clone), TQDM_DISABLE="1", PYTHONDONTWRITEBYTECODE="1")
    return env


@pytest.fixture(scope="session")
def after_main_job(tmp_path_factory):
    """(clone, env): a clone in which the (small) quick study has run: runs/ and reports/ exist."""
    clone = make_clone(tmp_path_factory.mktemp("docs-examples"))
    quick = clone / "params" / "quick.yaml"
    quick.write_text(yaml.safe_dump(small_quick_profile(yaml.safe_load(quick.read_text())), sort_keys=False))
    env = clone_env(clone)
    study = subprocess.run(
        [str(clone / ".venv" / "bin" / "python"), "-m", "ticketlib", "study"],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=STUDY_TIMEOUT,
    )
    assert study.returncode == 0, study.stdout[-3000:] + study.stderr[-3000:]
    assert (clone / "reports" / "index.html").is_file() and (clone / "runs" / "find_tickets").is_dir()
    return clone, env


def _profile_block(block: Block, clone: Path) -> list[str]:
    data = yaml.safe_load(block.code)
    if not isinstance(data, dict) or "extends" not in data:
        return []  # YAML that is not a profile: parsing it was the check
    named = re.match(r"#\s*(params/[\w.-]+\.ya?ml)\s*$", block.code.splitlines()[0])
    path = clone / (named[1] if named else f"params/{data['name']}.yaml")
    path.write_text(block.code)
    return ["-c", f"from ticketlib.study.profiles import load_profile; load_profile({str(path)!r})"]


def _command(block: Block, clone: Path, scratch: Path) -> list[str]:
    script = scratch / f"block{block.line}"
    if block.language in SHELLS:
        script.write_text(block.code)
        return ["bash", "-e", "-o", "pipefail", str(script)]
    python = str(clone / ".venv" / "bin" / "python")
    if block.language == "yaml":
        args = _profile_block(block, clone)
        return [python, *args] if args else [python, "-c", "pass"]
    script.write_text(block.code)
    return [python, str(script)]


@pytest.mark.slow
@pytest.mark.parametrize("block", RUNNABLE, ids=lambda b: b.id)
@pytest.mark.xdist_group("docs_examples")  # one clone and one study; blocks in document order
def test_documented_example_runs(block, after_main_job, tmp_path):
    if INSTALLS.search(block.code):
        pytest.fail(f"{block.id} installs into the environment (set-up, pip, conda, apt): mark it not run")
    clone, env = after_main_job
    command = _command(block, clone, tmp_path)
    returncode, output, seconds = run_block(command, clone, env)
    assert returncode is not None, f"{block.id} ran over {BLOCK_TIMEOUT} s:\n{block.code}\n--- output\n{output}"
    assert returncode == 0, (
        f"{block.id} failed (exit {returncode}, {seconds:.0f} s):\n{block.code}\n--- output\n{output}"
    )


def run_block(
    command: list[str], cwd: Path, env: dict, timeout: float = BLOCK_TIMEOUT
) -> tuple[int | None, str, float]:
    """(exit status or None after the timeout, the output's tail, seconds); on a timeout the
    block's process group (its commands, sweep workers) is killed. Kernels run in sessions of
    their own and exit when papermill is gone; the output is not awaited for long after that."""
    start = time.monotonic()
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=timeout)
        returncode = process.returncode
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        try:
            output, _ = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            output = "(no output: a child still held the pipe 30 s after the kill)"
        returncode = None
    return returncode, output[-4000:], time.monotonic() - start
