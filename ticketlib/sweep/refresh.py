"""Re-executing the committed notebooks (kept here until it moves to a developer script)."""

from __future__ import annotations

import os
from pathlib import Path

from .. import settings
from ..params import load_profile
from ..settings import repo_root
from .driver import log
from .plan import Run, expand


def refresh_notebooks(profile: str = "smoke", names: list[str] | None = None, root: Path | None = None) -> None:
    """Execute each notebook in place with the first grid point of `profile` (dependencies left
    empty, so each notebook finds or makes its own tickets) in a fresh temporary run store, in
    notebook order: what CI's nbval re-executes and compares (see docs/notebooks.md, nbval)."""
    import tempfile

    import papermill

    root = root or repo_root()
    loaded = load_profile(profile, root)
    with tempfile.TemporaryDirectory(prefix="ticketlib-notebooks-") as store:
        os.environ[settings.RUNS] = store
        os.environ.setdefault("TQDM_DISABLE", "1")
        first: dict[str, Run] = {}
        for run in expand(loaded, Path(store), root):
            first.setdefault(run.experiment, run)
        for run in sorted(first.values(), key=lambda r: r.notebook.name):
            if names and run.notebook.name not in names and run.experiment not in names:
                continue
            log(f"executing {run.notebook.name} with the {loaded.name} profile's {run.name}")
            papermill.execute_notebook(str(run.notebook), str(run.notebook), parameters=run.params,
                                       cwd=str(run.notebook.parent), progress_bar=False, kernel_name="python3")
            _clean_notebook(run.notebook)


def _clean_notebook(path: Path) -> None:
    """Drop papermill's per-run timing metadata, so a refresh that changes nothing shows no diff
    beyond outputs."""
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    nb.metadata.pop("papermill", None)
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
    nbformat.write(nb, str(path))
