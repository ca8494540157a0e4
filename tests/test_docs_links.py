"""Every document the repository cites exists inside it.

- Markdown links in the README, CHANGELOG.md, docs/ and benchmarks/README.md that point to local files
  must resolve to a file or folder inside the repository, and a `#fragment` into a Markdown file
  must name one of its headings (GitHub's heading anchors).
- A path to a Markdown file written in code, docstrings, comments, profiles or docs
  (`dir/name.md`, `../dir/name.md`) must resolve inside the repository, relative to the repository
  root or to the citing file's folder.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINKING_DOCS = [
    ROOT / "README.md",
    ROOT / "CHANGELOG.md",
    ROOT / "benchmarks" / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
    *sorted((ROOT / "docs" / "measurements").glob("*.md")),
]
CITING_GLOBS = [
    "*.md",
    "*.toml",
    "docs/*.md",
    "benchmarks/*.md",
    "benchmarks/*.py",
    "ticketlib/**/*.py",
    "tests/*.py",
    "notebooks/*.py",
    "notebooks/*.ipynb",
    "scripts/*",
    "params/*.yaml",
]

FENCE = re.compile(r"^```.*?^```", re.S | re.M)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)
MD_PATH = re.compile(r"(?<![\w./-])((?:\.{1,2}/)*(?:[\w.-]+/)+[\w.-]+\.md)\b")


def _prose(text: str) -> str:
    """The text outside fenced code blocks and inline code, where links are links."""
    return INLINE_CODE.sub("", FENCE.sub("", text))


def heading_anchors(text: str) -> set[str]:
    """GitHub's anchors: lower case, punctuation dropped, spaces to hyphens; repeats get -1, -2."""
    anchors: set[str] = set()
    for heading in HEADING.findall(FENCE.sub("", text)):
        heading = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "")
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        candidate, n = slug, 0
        while candidate in anchors:
            n += 1
            candidate = f"{slug}-{n}"
        anchors.add(candidate)
    return anchors


def _inside(path: Path, root: Path) -> bool:
    return path.resolve().is_relative_to(root.resolve())


def broken_links(doc: Path, root: Path = ROOT) -> list[str]:
    """The local links in one Markdown file that do not resolve, each with the reason."""
    text = doc.read_text(encoding="utf-8")
    problems = []
    for target in LINK.findall(_prose(text)):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto:, ...
            continue
        file_part, _, fragment = target.partition("#")
        path = (doc.parent / file_part) if file_part else doc
        if not _inside(path, root):
            problems.append(f"{target}: outside the repository")
        elif not path.exists():
            problems.append(f"{target}: no such file")
        elif fragment and path.suffix == ".md" and fragment not in heading_anchors(path.read_text(encoding="utf-8")):
            problems.append(f"{target}: no heading #{fragment} in {path.name}")
    return problems


def missing_cited_docs(source: Path, root: Path = ROOT) -> list[str]:
    """Paths to Markdown files cited in one source file that do not resolve inside the repository."""
    problems = []
    for cited in sorted(set(MD_PATH.findall(source.read_text(encoding="utf-8", errors="replace")))):
        candidates = [root / cited, source.parent / cited]
        if not any(_inside(c, root) and c.exists() for c in candidates):
            problems.append(cited)
    return problems


def _citing_files(root: Path = ROOT) -> list[Path]:
    files = {p for pattern in CITING_GLOBS for p in root.glob(pattern) if p.is_file()}
    this_test = Path(__file__).resolve()  # its examples are meant to be broken
    return sorted(p for p in files if ".venv" not in p.parts and p.resolve() != this_test)


@pytest.mark.parametrize("doc", LINKING_DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_local_links_resolve(doc):
    assert broken_links(doc) == []


def test_cited_markdown_files_exist():
    missing = {str(f.relative_to(ROOT)): m for f in _citing_files() if (m := missing_cited_docs(f))}
    assert missing == {}


def test_the_checks_catch_broken_links_and_citations(tmp_path):
    root = tmp_path / "repo"
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "a.md").write_text("# Title\n\n## The `x` option (new)\n\n## Title\n")
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "STUDY.md").write_text("exists, but outside the repository\n")
    doc = root / "README.md"
    doc.write_text(
        "[ok](docs/a.md) [ok](docs/a.md#the-x-option-new) [ok](docs/a.md#title-1) [ok](#top) [web](https://x.org/a.md)\n"
        "[gone](docs/b.md) [out](../shared/STUDY.md) [anchor](docs/a.md#nope)\n"
        "`[not a link](nowhere.md)`\n```\n[in a fence](nowhere.md)\n```\n# Top\n"
    )
    assert broken_links(doc, root) == [
        "docs/b.md: no such file",
        "../shared/STUDY.md: outside the repository",
        "docs/a.md#nope: no heading #nope in a.md",
    ]
    source = root / "docs" / "mod.py"
    source.write_text('"""See docs/a.md, a.md, ../docs/a.md, notebooks/README.md and ../shared/STUDY.md."""\n')
    assert missing_cited_docs(source, root) == ["../shared/STUDY.md", "notebooks/README.md"]
