"""A run's folder as an experiment sets it up: where it is (the given folder, else the store's
folder of the run's identity), what it says of itself (params.json, run.json), whether it starts,
resumes or is reused, and its finished cells (one JSON each, so a killed run resumes)."""

from __future__ import annotations

import os
from pathlib import Path

from ticketlib import __version__
from ticketlib.foundations.atomic import read_json, write_json
from ticketlib.foundations.paths import PARAMS_FILE, ROWS_FILE, RUN_FILE, cell_path
from ticketlib.foundations.settings import store_root
from ticketlib.study.identity import describe, folder_id, run_folder, run_identity
from ticketlib.tasks.params import Recipe


def resolve_run_dir(
    run_dir: str | os.PathLike | None,
    experiment: str,
    recipe: Recipe,
    params: dict | None = None,
    needs: dict | None = None,
) -> Path:
    """The given run folder, else the run's folder in the store (ticketlib.study.identity.run_folder):
    the one a sweep with the same parameters uses. `params`: the experiment's own parameters,
    named as in its notebook; `needs`: parameter -> the run folder (or mask file) it takes."""
    return resolve_run(run_dir, experiment, recipe, params, needs)[0]


def resolve_run(
    run_dir, experiment: str, recipe: Recipe, params: dict | None = None, needs: dict | None = None
) -> tuple[Path, dict | None]:
    """resolve_run_dir, with the store's identity of the run (None for a given folder): written
    to params.json by describe_run, once the run's inputs are checked."""
    if run_dir:
        return Path(run_dir), None
    identity = run_identity(
        experiment, {**recipe.as_dict(), **(params or {})}, {k: folder_id(v) for k, v in (needs or {}).items()}
    )
    return run_folder(store_root(), identity), identity


def run_label(run_dir: Path) -> str:
    """The rows' run_id without one given: the folder's run id (params.json), else its name."""
    described = run_dir / PARAMS_FILE
    return (read_json(described).get("run_id") or run_dir.name) if described.is_file() else run_dir.name


def describe_run(run_dir: Path, identity: dict | None, experiment: str, recipe: Recipe, **extra) -> None:
    """Print the run's folder and state; write its identity (params.json, once) and run.json."""
    print(f"run folder: {shown_folder(run_dir)} ({folder_state(run_dir)})", flush=True)
    if identity is not None and not (run_dir / PARAMS_FILE).is_file():
        describe(run_dir, identity)
    write_json(
        run_dir / RUN_FILE,
        {"experiment": experiment, "recipe": recipe.as_dict(), "ticketlib_version": __version__, **extra},
    )


def shown_folder(run_dir: Path) -> str:
    """A run folder as a notebook prints it: within the run store as `<store>/...`, so an
    executed notebook (committed, or shared in a shard) names no folder of the machine it ran on."""
    store, folder = store_root(), Path(run_dir).resolve()
    return f"<store>/{folder.relative_to(store).as_posix()}" if folder.is_relative_to(store) else str(run_dir)


def folder_state(run_dir: Path) -> str:
    """Whether a run starts anew, resumes an unfinished one (run.json: an earlier start) or reuses a
    finished one (rows.csv: written last). A sweep's own files (params.json) do not count."""
    if (run_dir / ROWS_FILE).is_file():
        return "reused: finished before, nothing to compute"
    if (run_dir / RUN_FILE).is_file():
        return "resumed: its finished levels and cells are kept"
    return "new"


def cached_cell(run_dir: Path, name: str, compute) -> dict:
    """A finished cell's JSON, else compute it and store it (resume after a kill)."""
    path = cell_path(run_dir, name)
    if path.is_file():
        return read_json(path)
    result = compute()
    write_json(path, result)
    return result
