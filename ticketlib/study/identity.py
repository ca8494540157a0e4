"""Run identity: one scheme for runs made by hand (a notebook, `ticketlib imp`, a library call)
and by sweeps, so each finds the other's runs.

What identifies a run (`run_identity(experiment, params, needs)`):
  experiment  what it computes: for a sweep's run, its notebook's name without the number
              (`notebook_experiment`: 01_find_tickets.ipynb -> find_tickets), which is the
              `experiment` the library's function for that notebook uses by default (find_tickets,
              baselines, transfer, rewinding); so a profile's experiment named otherwise
              (find_tickets_retrieval, transfer_back) shares its folders with runs by hand too.
  params      its resolved parameters (`params.identity_params`: a recipe's flat fields and
              `recipe_extra` become the whole resolved Recipe, defaults included, without the
              runtime fields device and threads), without the control parameters (CONTROL: where
              and how it runs, not what it computes) and without the parameters that are needs.
  needs       the runs it depends on (a ticket), by their run ids; a ticket that is not a run
              folder of the store (a mask file, a folder without params.json) by its path.
  version     ticketlib's version: a library change that changes results bumps it.

Its id is a hash of that (`run_id`) and its folder `<store>/<experiment>/<task>-<id>` (`<id>`
when it has no task): a function of the identity alone, so a hand run and a sweep run with the
same identity use one folder (`run_folder`). Every such folder holds params.json (the run id, the
identity, the parameters; `describe`), which is how a run given a folder as its ticket learns
that folder's id (`folder_id`).

Decision: the notebook's code is not part of the identity. A library call made from a notebook
cannot know the code of the notebook that made it, and the notebooks are thin (each calls one
experiment function of ticketlib.study.experiments): what decides a run's results is the library,
which the version covers. So editing a notebook re-runs nothing; when a notebook change changes
results, bump the version (or delete the runs' folders). The sweep records each run's notebook
code hash in its status, and `ticketlib sweep list` marks the runs made with other notebook code.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Mapping

from ticketlib import __version__
from ticketlib.foundations.atomic import params_hash, read_json, to_jsonable, write_json
from ticketlib.foundations.paths import PARAMS_FILE, experiment_dir
from ticketlib.tasks.params import identity_params

CONTROL = ("run_dir", "run_id", "train_ticket")  # where and how a run runs, not what it computes


def notebook_experiment(notebook: str | os.PathLike) -> str:
    """01_find_tickets.ipynb -> find_tickets: the experiment a notebook's runs are."""
    return re.sub(r"^\d+_", "", Path(notebook).stem)


def run_identity(experiment: str, params: Mapping[str, Any], needs: Mapping[str, Any] | None = None) -> dict:
    """What identifies a run (see the module docstring). `needs`: parameter -> run id (or list)."""
    needs = dict(needs or {})
    kept = {k: v for k, v in params.items() if k not in CONTROL and k not in needs}
    return to_jsonable(
        {"experiment": experiment, "params": identity_params(kept), "needs": needs, "ticketlib_version": __version__}
    )


def run_id(identity: Mapping[str, Any]) -> str:
    return params_hash(identity)


def _slug(identity: Mapping[str, Any]) -> str:
    params = identity["params"]
    task = (params.get("recipe") or {}).get("task", params.get("task", ""))
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(task or ""))[:60]


def run_folder(store: str | os.PathLike, identity: Mapping[str, Any]) -> Path:
    """`<store>/<experiment>/<task>-<id>` (`<id>` without a task)."""
    slug, key = _slug(identity), run_id(identity)
    return experiment_dir(store, identity["experiment"]) / (f"{slug}-{key}" if slug else key)


def describe(folder: str | os.PathLike, identity: Mapping[str, Any], params: Mapping[str, Any] | None = None) -> None:
    """Write the folder's params.json: its run id, identity and parameters."""
    write_json(
        Path(folder) / PARAMS_FILE,
        {
            "run_id": run_id(identity),
            "identity": identity,
            "params": dict(params if params is not None else identity["params"]),
        },
    )


def folder_id(path: str | os.PathLike) -> str:
    """A run folder's id (from its params.json), else the resolved path (a mask file, a folder
    made elsewhere)."""
    described = Path(path) / PARAMS_FILE
    if described.is_file():
        found = read_json(described).get("run_id")
        if found:
            return found
    return str(Path(path).resolve())
