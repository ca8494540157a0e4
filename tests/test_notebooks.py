"""The notebooks: one source (scripts/build_notebooks.py), thin, parameterised from Recipe's
fields, committed with the outputs of scripts/refresh_notebooks.py's procedure and no papermill
cell; the parameters cell is what a run uses; the summary and explorer read the last study and
never train. nbval itself runs in scripts/test.sh (see docs/notebooks.md, nbval)."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from ticketlib import sweep
from ticketlib.tasks.params import Recipe, recipe_default

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
sys.path.insert(0, str(ROOT / "scripts"))
import build_notebooks  # noqa: E402
import refresh_notebooks  # noqa: E402

NON_RECIPE = {
    "run_dir",
    "run_id",
    "recipe_extra",
    "ticket",
    "train_ticket",
    "at_levels",
    "methods",
    "seeds",
    "source_task",
    "source_params",
    "rewind_steps",
    "runs",
    "level",
    "note",
    "compare_with",
    "interactive",
}
BUILDS_A_RECIPE = ["01_find_tickets.ipynb", "02_baselines.ipynb", "03_transfer.ipynb", "04_rewinding.ipynb"]


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(str(path), as_version=4)


def parameters_cell(nb) -> str:
    return next(c.source for c in nb.cells if "parameters" in c.metadata.get("tags", []))


def test_there_are_six_notebooks_and_a_builder_for_each():
    assert [p.name[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04", "05", "06"]
    assert [p.name for p in NOTEBOOKS] == list(build_notebooks.BUILDERS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_cells_are_the_generators(path):
    """One source of truth: the cells of every committed notebook are exactly what
    scripts/build_notebooks.py writes (edit there, then run scripts/refresh_notebooks.py)."""
    committed, built = read(path), build_notebooks.build(path.name)
    assert [(c.cell_type, c.source, c.metadata.get("tags", [])) for c in committed.cells] == [
        (c.cell_type, c.source, c.metadata.get("tags", [])) for c in built.cells
    ], f"{path.name} differs from scripts/build_notebooks.py: run scripts/refresh_notebooks.py {path.name}"


@pytest.mark.parametrize("name", BUILDS_A_RECIPE)
def test_parameters_cell_holds_every_recipe_field_with_its_default(name):
    params = sweep.notebook_parameters(ROOT / "notebooks" / name)
    assert [k for k in params if k in Recipe.names()] == Recipe.names()
    for field in Recipe.names():
        assert params[field] == recipe_default(field), field
    cell = parameters_cell(read(ROOT / "notebooks" / name))
    assert "# the task, a ticketlib.tasks.registry name" in cell  # the help text comes along
    # and the cell builds the default recipe
    namespace: dict = {}
    exec(cell, {}, namespace)
    assert Recipe.from_namespace(namespace) == Recipe()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_thin_and_parameterised(path):
    nb = read(path)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged 'parameters'"
    names = set(sweep.notebook_parameters(path))
    assert {"run_dir", "run_id"} <= names
    assert names - NON_RECIPE <= set(Recipe.names()), names - NON_RECIPE - set(Recipe.names())
    code = [c for c in nb.cells if c.cell_type == "code" and "parameters" not in c.metadata.get("tags", [])]
    for cell in code:  # thin: no function or class definitions, short cells
        tree = ast.parse(cell.source)
        assert not any(isinstance(n, (ast.FunctionDef, ast.ClassDef)) for n in ast.walk(tree)), cell.source
        assert len(cell.source.splitlines()) <= 25, cell.source
    assert any(c.source.startswith("# NBVAL_CHECK_OUTPUT") for c in code), "no output marked for nbval"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_outputs_come_from_the_refresh_procedure_without_a_papermill_cell(path):
    nb = read(path)
    assert not [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])], (
        "an injected-parameters cell would override the parameters cell"
    )
    assert "papermill" not in nb.metadata
    recorded = nb.metadata.get("ticketlib", {}).get("outputs_from", {})
    expected = refresh_notebooks.procedure_params(refresh_notebooks.STORE_PLACEHOLDER)[path.name]
    assert json.loads(json.dumps(recorded.get("parameters"))) == json.loads(json.dumps(expected)), (
        f"{path.name}'s outputs are not the current procedure's: run scripts/refresh_notebooks.py"
    )
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.get("execution_count") for c in code), "every code cell executed"
    assert not [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
    text = nbformat.writes(nb)
    assert "/work/" not in text and "/home/" not in text, "machine paths in the committed outputs"


def test_nbval_copies_inject_the_procedures_parameters_and_keep_the_outputs(tmp_path):
    store = tmp_path / "store"
    written = refresh_notebooks.prepare(tmp_path / "nbval", store)
    assert [p.name for p in written] == [p.name for p in NOTEBOOKS]
    for path in written:
        copy, committed = read(path), read(ROOT / "notebooks" / path.name)
        injected = [i for i, c in enumerate(copy.cells) if "injected-parameters" in c.metadata.get("tags", [])]
        params_at = next(i for i, c in enumerate(copy.cells) if "parameters" in c.metadata.get("tags", []))
        assert injected == [params_at + 1]
        values: dict = {}
        exec(copy.cells[injected[0]].source, {}, values)
        assert values == refresh_notebooks.procedure_params(store)[path.name]
        rest = [c for c in copy.cells if "injected-parameters" not in c.metadata.get("tags", [])]
        assert [c.get("outputs") for c in rest] == [c.get("outputs") for c in committed.cells]


# --- the last study by default, and the parameters cell as the one source ------------------


def mini_repository(tmp_path: Path) -> Path:
    """A copy of ticketlib and the notebooks in tmp_path, so that `reports/` and `runs/` (the
    defaults the notebooks read) are tmp_path's: kernels import this ticketlib (PYTHONPATH)."""
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "ticketlib", repo / "ticketlib", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "notebooks", repo / "notebooks")
    return repo


def execute(notebook: Path, repo: Path, timeout: int = 300) -> nbformat.NotebookNode:
    """`jupyter nbconvert --execute` (what "run all" does, no parameters), in a kernel that
    imports the mini repository's ticketlib and has no TICKETLIB_RUNS."""
    env = {k: v for k, v in os.environ.items() if k not in ("TICKETLIB_RUNS", "JPY_SESSION_NAME")}
    env.update(PYTHONPATH=str(repo), TQDM_DISABLE="1", MPLBACKEND="Agg")
    out = notebook.with_name(notebook.stem + ".out.ipynb")
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "jupyter"),
            "nbconvert",
            "--to",
            "notebook",
            "--execute",
            f"--ExecutePreprocessor.timeout={timeout}",
            "--output",
            out.name,
            str(notebook),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=notebook.parent,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return read(out)


def output_text(nb) -> str:
    parts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", ""))
            parts += [str(v) for k, v in output.get("data", {}).items() if k.startswith("text/")]
    return "\n".join(parts)


def edit_parameter(path: Path, name: str, value) -> None:
    """Set `name = value` in the notebook's parameters cell, as a user would in JupyterLab."""
    nb = read(path)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    lines = cell.source.splitlines()
    index = next(i for i, line in enumerate(lines) if line.split("=")[0].strip() == name)
    lines[index] = f"{name} = {value!r}"
    cell.source = "\n".join(lines)
    nbformat.write(nb, str(path))


@pytest.fixture
def study_repo(tmp_path):
    """The mini repository after a (fake) study: reports/runs.json and its store."""
    from study_fixture import make_study

    repo = mini_repository(tmp_path)
    make_study(repo)  # repo/store and repo/reports
    return repo


@pytest.mark.slow
def test_summary_and_explorer_show_the_last_study_by_default_and_train_nothing(study_repo):
    before = sorted(p for p in study_repo.rglob("*") if "notebooks" not in p.parts)
    for name in ("05_summary.ipynb", "06_explore.ipynb"):
        text = output_text(execute(study_repo / "notebooks" / name, study_repo))
        assert "the last study (profile 'fake'" in text, text[:2000]
        assert "rt-sentiment" in text and "squad-qnli" in text
    after = sorted(p for p in study_repo.rglob("*") if "notebooks" not in p.parts and "__pycache__" not in p.parts)
    assert not (study_repo / "runs").exists(), "a run store appeared: something was trained or written"
    assert after == [p for p in before if "__pycache__" not in p.parts]


@pytest.mark.slow
def test_summary_and_explorer_without_a_study_say_so_and_do_not_crash(tmp_path):
    repo = mini_repository(tmp_path)
    summary = output_text(execute(repo / "notebooks" / "05_summary.ipynb", repo))
    assert "No study found" in summary and "bash scripts/study.sh" in summary
    explore = output_text(execute(repo / "notebooks" / "06_explore.ipynb", repo))
    assert "No ticket to explore" in explore and "No study found" in explore
    assert not (repo / "runs").exists()


@pytest.mark.slow
def test_an_edited_parameters_cell_is_what_runs(study_repo):
    """The user-visible rule: edit a value in the parameters cell, run all, and that value is used."""
    summary = study_repo / "notebooks" / "05_summary.ipynb"
    edit_parameter(summary, "note", "EDITED NOTE 4711")
    edit_parameter(summary, "level", 1)
    text = output_text(execute(summary, study_repo))
    assert "EDITED NOTE 4711" in text
    assert "(20%)" in text and "(40%)" not in text  # the layer table's tickets at level 1, not the highest

    explore = study_repo / "notebooks" / "06_explore.ipynb"
    edit_parameter(explore, "task", "squad-qnli")
    edit_parameter(explore, "level", 1)
    text = output_text(execute(explore, study_repo))
    assert "selected: squad-qnli: find_tickets/squad-qnli-000000000001, level 1 of [0, 1, 2], sparsity 0.2000" in text


@pytest.mark.slow
def test_papermill_by_hand_with_another_task(tmp_path, capsys):
    """`papermill ... -f <resolved smoke parameters> -p task squad-qnli` on the IMP notebook: the
    `-p` values win over the file's (cut further to one step: the run itself is not the point)."""
    from ticketlib.cli.main import main

    assert main(["sweep", "params", "smoke", "find_tickets"]) == 0  # `ticketlib sweep params`, in this process
    (tmp_path / "smoke.yaml").write_text(capsys.readouterr().out)
    out = tmp_path / "out.ipynb"
    env = {**os.environ, "TICKETLIB_RUNS": str(tmp_path / "store")}
    small = ["-p", "max_train_examples", "16", "-p", "max_eval_examples", "16", "-p", "max_steps", "1"]
    subprocess.run(
        [
            str(Path(sys.executable).parent / "papermill"),
            str(ROOT / "notebooks" / "01_find_tickets.ipynb"),
            str(out),
            "-f",
            str(tmp_path / "smoke.yaml"),
            "-p",
            "task",
            "squad-qnli",
            "-p",
            "max_length",
            "64",
            *small,
            "--no-progress-bar",
        ],
        check=True,
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    rows = list((tmp_path / "store" / "find_tickets").glob("*/rows.csv"))
    assert len(rows) == 1 and "squad-qnli" in rows[0].read_text()
    recipe = json.loads((rows[0].parent / "run.json").read_text())["recipe"]  # what the run used
    assert (recipe["task"], recipe["max_steps"], recipe["max_train_examples"]) == ("squad-qnli", 1, 16), recipe


# --- every parameter checked ----------------------------------------------------------------


def papermill_cli(notebook: Path, out: Path, *args: str, store: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "TICKETLIB_RUNS": str(store), "TQDM_DISABLE": "1"}
    return subprocess.run(
        [str(Path(sys.executable).parent / "papermill"), str(notebook), str(out), *args, "--no-progress-bar"],
        capture_output=True,
        text=True,
        env=env,
        cwd=out.parent,
    )


def first_error(nb) -> tuple[int, str]:
    """The index of the first cell with an error output (papermill's own error-marker cells left
    out), and that error's one-line message."""
    cells = [c for c in nb.cells if "papermill-error-cell-tag" not in c.metadata.get("tags", [])]
    for index, cell in enumerate(cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                return index, f"{output['ename']}: {output['evalue']}"
    raise AssertionError("no cell failed")


@pytest.mark.slow  # two papermill runs that stop in their first cell (a kernel start each, about 10 s)
@pytest.mark.parametrize(
    "name, args, message",
    [
        (
            "01_find_tickets.ipynb",
            ["-p", "seeed", "1"],
            "UnknownParameterError: unknown parameter 'seeed'. Did you mean 'seed'?",
        ),
        (
            "05_summary.ipynb",
            ["-p", "levle", "1"],
            "UnknownParameterError: unknown parameter 'levle'. Did you mean 'level'?",
        ),
    ],
)
def test_papermill_with_a_misspelt_parameter_stops_in_the_first_cell_writing_nothing(tmp_path, name, args, message):
    store = tmp_path / "store"
    done = papermill_cli(ROOT / "notebooks" / name, tmp_path / "out.ipynb", *args, store=store)
    assert done.returncode != 0
    nb = read(tmp_path / "out.ipynb")
    cells = [c for c in nb.cells if "papermill-error-cell-tag" not in c.metadata.get("tags", [])]
    injected = next(i for i, c in enumerate(cells) if "injected-parameters" in c.metadata.get("tags", []))
    index, error = first_error(nb)
    assert index == injected + 1 and error.startswith(message) and "\n" not in error, (index, error)
    assert not store.exists(), "something was written before the parameters were checked"


@pytest.mark.slow  # one kernel start (about 5 s)
def test_a_misspelt_name_in_the_parameters_cell_stops_run_all(tmp_path):
    """In JupyterLab the parameters cell is edited by hand: a misspelt name there (max_step for
    max_steps, which would train on the whole split) stops "run all" at the next cell too."""
    nb = read(ROOT / "notebooks" / "01_find_tickets.ipynb")
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    cell.source += "\nmax_step = 8"
    nbformat.write(nb, str(tmp_path / "edited.ipynb"))
    done = papermill_cli(tmp_path / "edited.ipynb", tmp_path / "out.ipynb", store=tmp_path / "store")
    assert done.returncode != 0
    index, message = first_error(read(tmp_path / "out.ipynb"))
    assert index == nb.cells.index(cell) + 1
    assert message.startswith("UnknownParameterError: unknown parameter 'max_step'. Did you mean 'max_steps'?")
    assert not (tmp_path / "store").exists()


@pytest.mark.parametrize("name", list(build_notebooks.BUILDERS))
def test_the_cell_after_the_parameters_checks_them_first(name):
    """The check is the first statement after the parameters, and names exactly the parameters cell's
    names; no later cell binds a loop variable at top level (a leftover int from a previous "run
    all" in the same kernel would look like a parameter to the check)."""
    from ticketlib.study.notebook_params import check_parameters

    nb = build_notebooks.build(name)
    params_at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    following = nb.cells[params_at + 1].source.splitlines()
    assert following[0] == "from ticketlib.study.notebook_params import check_parameters"
    assert following[1].startswith("check_parameters(globals(), ")
    namespace: dict = {}
    exec(nb.cells[params_at].source, {}, namespace)
    exec(following[1], {"check_parameters": check_parameters, "globals": lambda: namespace})  # its own names pass
    with pytest.raises(ValueError, match="unknown parameter 'typo'"):
        exec(following[1], {"check_parameters": check_parameters, "globals": lambda: {**namespace, "typo": 1}})
    for cell in nb.cells[params_at + 1 :]:
        if cell.cell_type == "code":
            assert not [n for n in ast.parse(cell.source).body if isinstance(n, ast.For)], cell.source


def test_check_parameters_ignores_what_a_notebook_binds_later():
    import pandas as pd

    from ticketlib.study.notebook_params import check_parameters

    check_parameters(
        {
            "seed": 0,
            "run_dir": "",
            "rows": pd.DataFrame(),
            "pd": pd,
            "_": 3,
            "In": [""],
            "fig": object(),
            "tickets": {"a": Path("x")},
        },
        ["run_dir"],
        recipe=True,
    )
    with pytest.raises(ValueError, match=r"recipe_extra: unknown recipe parameter 'thread'. Did you mean 'threads'"):
        check_parameters({"recipe_extra": {"thread": 1}}, ["recipe_extra"], recipe=True)


def test_notebooks_run_without_kernel_transport_warnings_or_log_lines(tmp_path, capfd):
    """The sweep's and the refresh's papermill runs use IPC sockets: no "Kernel is running over TCP
    without encryption" from the kernel in the main job's output; nor the kernel's own error log
    lines (as "KeyboardInterrupt caught in kernel" when a shutdown's interrupt lands mid-message),
    probed by logging one from a cell."""
    from ticketlib.sweep.notebooks import execute_notebook

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cell = nbformat.v4.new_code_cell("x = 1")
    cell.metadata["tags"] = ["parameters"]
    probe = "from ipykernel.kernelapp import IPKernelApp\nIPKernelApp.instance().log.error('kernel-log-probe')"
    nb.cells = [cell, nbformat.v4.new_code_cell(probe), nbformat.v4.new_code_cell("print(x * 2)")]
    nbformat.write(nb, str(tmp_path / "in.ipynb"))
    (tmp_path / "cwd").mkdir()
    done = execute_notebook(
        tmp_path / "in.ipynb", tmp_path / "out.ipynb", {"x": 21}, cwd=tmp_path / "cwd", progress_bar=False
    )
    assert done.cells[-1].outputs[0]["text"] == "42\n"
    captured = capfd.readouterr()
    assert "TCP" not in captured.err + captured.out, captured.err
    assert "kernel-log-probe" not in captured.err + captured.out, captured.err
    assert not list((tmp_path / "cwd").iterdir()), "socket files left in the run folder"
