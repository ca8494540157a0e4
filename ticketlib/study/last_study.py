"""Which runs a hand-run notebook reads: by default the last study's.

A study (`python -m ticketlib study`, `bash scripts/study.sh`) writes `reports/runs.json`: its
profile, its store and every run with its folder and status. The summary and explore notebooks
read the runs named by their `runs` parameter:

  ""             the last study's finished runs (reports/runs.json); without a study, every
                 run in the store, with a message saying so
  "store"        every run in the run store (`<store>/<experiment>/<task>-<id>`, $TICKETLIB_RUNS
                 or runs/): runs by hand and sweeps' runs share these folders (ticketlib.study.identity)
  a path         a run folder, a folder holding run folders (a store), a reports folder or
                 a runs.json file
  a list         run folders (what the sweep passes)

Nothing here writes or trains.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import pandas as pd

from ticketlib.foundations.atomic import read_json
from ticketlib.foundations.paths import ROWS_FILE, RUN_FILE, RUNS_JSON
from ticketlib.foundations.settings import reports_root, store_root
from ticketlib.tickets.results import concat_rows
from ticketlib.tickets.ticket import available_levels, find_ticket_runs, run_folders_below, ticket_runs

HOW_TO_RUN = (
    "run the study (`bash scripts/study.sh`), or a notebook by hand "
    "(01_find_tickets makes tickets in <store>/find_tickets)"
)


@dataclass
class Selection:
    """Run folders (each holds run.json), where they came from, and a note for the reader."""

    folders: list[Path]
    source: str
    note: str = ""
    tasks: list[str] = field(default_factory=list)

    def describe(self) -> str:
        what = f"{len(self.folders)} run(s) from {self.source}"
        if self.tasks:
            what += f"; tasks: {', '.join(self.tasks)}"
        return what + (f"\n{self.note}" if self.note else "")

    def rows(self) -> pd.DataFrame:
        """The runs' tidy result rows (ticketlib.tickets.results; an empty table with its columns if none)."""
        return concat_rows([f / ROWS_FILE for f in self.folders if (f / ROWS_FILE).is_file()])

    def tickets(self) -> dict[str, Path]:
        """task -> find_tickets run folder (the first per task), as report.layer_table wants."""
        return ticket_runs(self.folders) if self.folders else {}  # ticket_runs([]) reads the whole store


def study_listing(reports: str | os.PathLike | None = None) -> dict | None:
    """The last study's runs.json (profile, store, runs), or None if there is none."""
    path = Path(reports or reports_root())
    path = path if path.name == RUNS_JSON else path / RUNS_JSON
    return json.loads(path.read_text()) if path.is_file() else None


def _study(listing: dict, where: str) -> Selection:
    folders = [
        Path(r["folder"])
        for r in listing.get("runs", [])  # runs that made results: run.json
        if r.get("status") == "ok" and (Path(r["folder"]) / RUN_FILE).is_file()
    ]
    source = f"the last study (profile {listing.get('profile')!r}, {where})"
    note = "" if folders else f"The study at {where} has no finished run yet: {HOW_TO_RUN}."
    return Selection(folders, source, note)


def select_runs(
    runs: str | os.PathLike | Sequence[str | os.PathLike] = "", reports: str | os.PathLike | None = None
) -> Selection:
    """The run folders a notebook's `runs` parameter names (see the module docstring)."""
    if isinstance(runs, (list, tuple)):
        folders = [f for run in runs for f in run_folders_below(run)]
        chosen = Selection(folders, f"{len(runs)} given run folder(s)")
    elif str(runs) == "store":
        chosen = Selection(run_folders_below(store_root()), f"the run store ({store_root()})")
    elif str(runs):
        path = Path(runs)
        if not path.exists():
            raise FileNotFoundError(
                f"runs: {path} does not exist (a run folder, a store, a reports folder or runs.json)"
            )
        listing = study_listing(path) if path.name == RUNS_JSON or (path / RUNS_JSON).is_file() else None
        chosen = _study(listing, str(path)) if listing is not None else Selection(run_folders_below(path), str(path))
    else:
        listing = study_listing(reports)
        where = str(Path(reports or reports_root()) / RUNS_JSON)
        if listing is not None:
            chosen = _study(listing, where)
        else:
            chosen = Selection(
                run_folders_below(store_root()),
                f"the run store ({store_root()})",
                f"No study found ({where} does not exist), so these are the runs in the store "
                f"(made by hand). For a study's runs, {HOW_TO_RUN}.",
            )
            if not chosen.folders:
                chosen.note = f"No study found ({where} does not exist) and no run in the store: {HOW_TO_RUN}."
    chosen.tasks = sorted({read_json(f / RUN_FILE).get("recipe", {}).get("task", "?") for f in chosen.folders})
    return chosen


def tickets_listing(runs: str | os.PathLike | Sequence = "", reports: str | os.PathLike | None = None) -> str:
    """One line per ticket run of the selection (task, levels, folder), for error messages."""
    chosen = select_runs(runs, reports)
    lines = [
        f"  {read_json(f / RUN_FILE)['recipe']['task']}: levels {available_levels(f)}, {f}"
        for f in find_ticket_runs(chosen.folders)
    ]
    return (f"Tickets in {chosen.source}:\n" + "\n".join(lines)) if lines else f"No tickets in {chosen.source}."
