"""Every file and folder name of the run store, a ticket folder and the reports folder.

A leaf: no ticketlib import, so any module can name a file without importing what writes it.
The one place each name is written (grep finds no second literal).

The run store (ticketlib.study.identity names the folders):

    <store>/<experiment>/<task>-<id>/          a run (by hand or by a sweep: the same folder)
    <store>/<experiment>/<task>-<id>.partial/  a sweep run in progress, or failed
    <store>/<experiment>/.<task>-<id>.lock     its lock (never deleted)
    <run>/params.json                          its run id, identity and parameters
    <run>/status.json                          a sweep's status of it (ticketlib.sweep)
    <run>/notebook.ipynb, notebook.html        the executed notebook a sweep ran, and its page

A find_tickets run folder:

    <run>/run.json                      what ran (experiment, recipe)
    <run>/rows.csv                      its tidy result rows (ticketlib.tickets.results)
    <run>/cells/<name>.json             finished training cells (resume after a kill)
    <run>/imp/manifest.json             the IMP run's config, architecture, theta_0 checksum
    <run>/imp/theta_i.safetensors       rewinding target theta_i (rewind_step > 0)
    <run>/imp/level_07/mask.safetensors the ticket of level 7 (ticketlib.core.mask_io)
    <run>/imp/level_07/sparsity.json    its sparsity report
    <run>/imp/level_07/head.safetensors its trained head (every head policy; none in older runs)
    <run>/imp/level_07/level.json       metrics and timings; written last: the level is complete

A summary run also holds `<run>/summary/`: its tables and figures, `order.json` (what was
saved, in order) and `note.html`.

A ticket folder (`Ticket.save_pretrained`, `ticketlib export`): mask.safetensors and README.md
(the model card). A shard of a store: its runs plus shard.json (ticketlib.sweep.shards).

The reports folder (`ticketlib study`):

    <reports>/results.csv   every finished run's rows
    <reports>/runs.json     the study's profile, store and runs with their status
    <reports>/index.html    the report page; figures/ and runs/ (each run's notebook page)
"""

from __future__ import annotations

import os
from pathlib import Path

# the run store
PARAMS_FILE = "params.json"
STATUS_FILE = "status.json"
PARTIAL_SUFFIX = ".partial"
NOTEBOOK_FILE = "notebook.ipynb"
NOTEBOOK_HTML = "notebook.html"
SHARD_MANIFEST = "shard.json"

# a run folder
RUN_FILE = "run.json"
ROWS_FILE = "rows.csv"
CELLS_DIR = "cells"
IMP_DIR = "imp"
MANIFEST_FILE = "manifest.json"
THETA_I_FILE = "theta_i.safetensors"
MASK_FILE = "mask.safetensors"
SPARSITY_FILE = "sparsity.json"
HEAD_FILE = "head.safetensors"
LEVEL_FILE = "level.json"
LEVEL_GLOB = "level_*"
SUMMARY_DIR = "summary"
ORDER_FILE = "order.json"
NOTE_FILE = "note.html"

# a ticket folder (beside MASK_FILE)
CARD_FILE = "README.md"

# the reports folder
RESULTS_CSV = "results.csv"
RUNS_JSON = "runs.json"
INDEX_HTML = "index.html"
FIGURES_DIR = "figures"
RUNS_DIR = "runs"
TABLES_LOCK = ".tables.lock"


def experiment_dir(store: str | os.PathLike, experiment: str) -> Path:
    return Path(store) / experiment


def level_dir(imp_dir: str | os.PathLike, level: int) -> Path:
    """`<imp_dir>/level_07` for level 7."""
    return Path(imp_dir) / f"level_{level:02d}"


def level_of(folder: str | os.PathLike) -> int:
    """The level a `level_07` folder holds."""
    return int(Path(folder).name.split("_")[1])


def cell_path(run_dir: str | os.PathLike, name: str) -> Path:
    return Path(run_dir) / CELLS_DIR / f"{name}.json"


def partial_dir(folder: Path) -> Path:
    """Where a sweep run executes (and stays when it fails): `<folder>.partial`."""
    return folder.with_name(folder.name + PARTIAL_SUFFIX)


def store_of(folder: Path) -> Path:
    """The run store a run folder (or its `.partial`) lies in: `<store>/<experiment>/<task>-<id>`."""
    return folder.parent.parent


def lock_path(folder: Path) -> Path:
    """A run folder's lock: a hidden file beside it, never deleted."""
    return folder.with_name(f".{folder.name}.lock")


def refuse_parent_refs(path: str | None, name: str) -> None:
    """Run folders and stores are named by the user: refuse '..' so nothing is written outside the intended place."""
    if path and ".." in Path(path).parts:
        raise ValueError(f"{name}: '..' is not allowed in a run path ({path!r})")
