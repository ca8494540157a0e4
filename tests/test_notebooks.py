"""The notebooks: thin, parameterised, committed executed with the smoke profile (what nbval
re-executes in CI: see docs/notebooks.md, nbval), and runnable by hand with papermill."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from ticketlib import sweep
from ticketlib.params import Recipe, load_profile

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
NON_RECIPE = {"run_dir", "run_id", "recipe_extra", "ticket", "at_levels", "methods", "seeds", "source_task",
              "source_params", "rewind_steps", "runs", "level", "note", "compare_with"}


def test_there_are_six_notebooks():
    assert [p.name[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04", "05", "06"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_thin_and_parameterised(path):
    nb = nbformat.read(str(path), as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged 'parameters'"
    names = set(sweep.notebook_parameters(path))
    assert {"run_dir", "run_id"} <= names
    assert names - NON_RECIPE <= set(Recipe.names()), names - NON_RECIPE - set(Recipe.names())
    code = [c for c in nb.cells if c.cell_type == "code" and not {"injected-parameters", "parameters"}
            & set(c.metadata.get("tags", []))]
    for cell in code:  # thin: no function or class definitions, short cells
        tree = ast.parse(cell.source)
        assert not any(isinstance(n, (ast.FunctionDef, ast.ClassDef)) for n in ast.walk(tree)), cell.source
        assert len(cell.source.splitlines()) <= 25, cell.source
    assert any(c.source.startswith("# NBVAL_CHECK_OUTPUT") for c in code), "no output marked for nbval"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_notebook_is_executed_with_the_current_smoke_profile(path):
    nb = nbformat.read(str(path), as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected, f"{path.name} is not executed: python -m ticketlib.sweep refresh-notebooks smoke"
    values = {}
    exec(injected[0].source, {}, values)
    runs = sweep.expand(load_profile("smoke"), Path("/nonexistent"))
    first = next(r for r in runs if r.notebook.name == path.name)
    assert values == first.params, (f"{path.name} was executed with other parameters than params/smoke.yaml's: "
                                    "python -m ticketlib.sweep refresh-notebooks smoke")
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.get("execution_count") for c in code), "every code cell executed"
    errors = [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    text = nbformat.writes(nb)
    assert "/work/" not in text and "/home/" not in text, "machine paths in the committed outputs"


@pytest.mark.slow
def test_papermill_by_hand_with_another_task(tmp_path):
    """`papermill ... -f <resolved smoke parameters> -p task squad-qnli` on the IMP notebook."""
    flat = subprocess.run([sys.executable, "-m", "ticketlib.sweep", "params", "smoke", "find_tickets"],
                          check=True, capture_output=True, text=True, cwd=ROOT).stdout
    (tmp_path / "smoke.yaml").write_text(flat)
    out = tmp_path / "out.ipynb"
    env = {**__import__("os").environ, "TICKETLIB_RUNS": str(tmp_path / "store")}
    subprocess.run([str(Path(sys.executable).parent / "papermill"), str(ROOT / "notebooks" / "01_find_tickets.ipynb"),
                    str(out), "-f", str(tmp_path / "smoke.yaml"), "-p", "task", "squad-qnli", "-p", "max_length", "64",
                    "--no-progress-bar"], check=True, capture_output=True, text=True, env=env, cwd=tmp_path)
    rows = list((tmp_path / "store" / "manual" / "find_tickets").glob("*/rows.csv"))
    assert len(rows) == 1 and "squad-qnli" in rows[0].read_text()
