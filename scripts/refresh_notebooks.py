"""The committed notebooks' outputs, and the copies nbval checks them with (developer script).

One procedure makes both (see docs/notebooks.md, nbval):

- Parameters: for each notebook, the smoke profile's first grid point of its experiment
  (params/smoke.yaml), with dependencies left out; notebooks that can make their own ticket get
  `train_ticket = True`, and the summary and explorer read the procedure's run store
  (`runs = "<store>"`). The notebooks run in order 01 ... 06 on one fresh run store, so
  02 finds the ticket 01 made.
- Refresh (`python scripts/refresh_notebooks.py [names]`): writes each notebook's cells from
  scripts/build_notebooks.py, executes it with papermill and those parameters in a temporary
  store, then removes papermill's `injected-parameters` cell and metadata, keeping the outputs.
  The parameters cell (the hand-run defaults) stays the only source of parameters in the saved
  notebook; the parameters the outputs came from are recorded in its metadata
  (`metadata.ticketlib.outputs_from`), which tests/test_notebooks.py compares with this procedure.
- Prepare (`python scripts/refresh_notebooks.py --prepare DIR --store STORE`): copies of the
  committed notebooks, outputs kept, with the same parameters injected (papermill's cell, not
  executed), for `pytest --nbval-lax DIR` to re-execute with TICKETLIB_RUNS=STORE and compare
  against the committed outputs (scripts/test.sh does this).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_notebooks import BUILDERS, NOTEBOOKS_DIR, build  # noqa: E402

from ticketlib.foundations.settings import RUNS  # noqa: E402
from ticketlib.study.profiles import load_profile  # noqa: E402
from ticketlib.sweep import expand, notebook_parameters  # noqa: E402
from ticketlib.sweep.notebooks import execute_notebook  # noqa: E402

PROFILE = "smoke"
INJECTED = "injected-parameters"
STORE_PLACEHOLDER = Path("<store>")


def procedure_params(store: Path, profile: str = PROFILE) -> dict[str, dict]:
    """notebook file name -> the parameters its committed outputs come from (see the docstring)."""
    first = {}
    for run in expand(load_profile(profile), store):
        first.setdefault(run.notebook.name, run)
    params = {}
    for name in BUILDERS:
        values = dict(first[name].params)
        names = notebook_parameters(NOTEBOOKS_DIR / name)
        if "train_ticket" in names:
            values["train_ticket"] = True
        if "runs" in names:
            values["runs"] = str(store)
        params[name] = values
    return params


def strip_papermill(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The executed notebook without papermill's injected cell and its per-run metadata."""
    nb.cells = [c for c in nb.cells if INJECTED not in c.metadata.get("tags", [])]
    nb.metadata.pop("papermill", None)
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
    return nb


def refresh(names: list[str] | None = None) -> None:
    """Write and execute the notebooks (all, or `names`, still in order on one fresh store)."""
    wanted = names or list(BUILDERS)
    unknown = [n for n in wanted if n not in BUILDERS]
    if unknown:
        raise SystemExit(f"unknown notebook {unknown[0]!r}; expected some of {', '.join(BUILDERS)}")
    for name in BUILDERS:  # the cells first: the parameters are read from the parameters cells
        if name in wanted:
            nbformat.write(build(name), str(NOTEBOOKS_DIR / name))
    with tempfile.TemporaryDirectory(prefix="ticketlib-notebooks-") as tmp:
        store = Path(tmp) / "store"
        os.environ[RUNS] = str(store)
        os.environ["TQDM_DISABLE"] = "1"
        params = procedure_params(store)
        for name in BUILDERS:  # earlier notebooks run too: they make the tickets later ones read
            if name > max(wanted):
                break
            output = Path(tmp) / name
            print(f"executing {name} ({PROFILE} profile parameters)", flush=True)
            execute_notebook(NOTEBOOKS_DIR / name, output, params[name], cwd=tmp, progress_bar=False)
            if name in wanted:
                nb = strip_papermill(nbformat.read(str(output), as_version=4))
                nb.metadata["ticketlib"] = {
                    "outputs_from": {
                        "script": "scripts/refresh_notebooks.py",
                        "profile": PROFILE,
                        "parameters": procedure_params(STORE_PLACEHOLDER)[name],
                    }
                }
                nbformat.write(nb, str(NOTEBOOKS_DIR / name))
                print(f"wrote {NOTEBOOKS_DIR / name}", flush=True)


def prepare(folder: Path, store: Path) -> list[Path]:
    """nbval's copies of the committed notebooks: outputs kept, the procedure's parameters injected."""
    from papermill.parameterize import parameterize_notebook

    folder.mkdir(parents=True, exist_ok=True)
    params = procedure_params(store)
    written = []
    for name in BUILDERS:
        nb = nbformat.read(str(NOTEBOOKS_DIR / name), as_version=4)
        nb.metadata.setdefault("papermill", {})
        nb = parameterize_notebook(nb, params[name], kernel_name="python3", language="python")
        nbformat.write(nb, str(folder / name))
        written.append(folder / name)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="notebook files to refresh (default: all)")
    parser.add_argument("--prepare", type=Path, help="write nbval's copies into this folder instead")
    parser.add_argument("--store", type=Path, help="with --prepare: the run store nbval's kernels use (TICKETLIB_RUNS)")
    args = parser.parse_args(argv)
    if args.prepare:
        if not args.store:
            parser.error("--prepare needs --store (the TICKETLIB_RUNS of the nbval run)")
        for path in prepare(args.prepare, args.store.resolve()):
            print(path)
        return 0
    refresh(args.names)
    return 0


if __name__ == "__main__":
    sys.exit(main())
