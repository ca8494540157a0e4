"""Tickets: a mask and where it came from, and the loaders of a run's levels.

The run-folder layout and its file names: ticketlib.foundations.paths.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import pandas as pd

from ticketlib.core.mask_io import load_mask
from ticketlib.core.masks import masks_overlap, sparsity, sparsity_report
from ticketlib.foundations.atomic import read_json
from ticketlib.foundations.paths import (
    IMP_DIR,
    LEVEL_FILE,
    LEVEL_GLOB,
    MASK_FILE,
    PARTIAL_SUFFIX,
    RUN_FILE,
    experiment_dir,
    level_dir,
    level_of,
)
from ticketlib.foundations.settings import store_root


def run_folders_below(folder: str | os.PathLike) -> list[Path]:
    """The run folder itself, or every run folder (holding run.json) below it; unfinished
    `.partial` ones left out."""
    folder = Path(folder)
    if (folder / RUN_FILE).is_file():
        return [folder]
    return sorted(
        p.parent
        for p in folder.rglob(RUN_FILE)
        if not any(part.endswith(PARTIAL_SUFFIX) for part in p.relative_to(folder).parts)
    )


@dataclass
class Ticket:
    """A mask and where it came from: a find_tickets run at a level, or a mask file."""

    mask: dict
    meta: dict
    path: Path
    level: int | None = None

    @property
    def sparsity(self) -> float:
        return sparsity(self.mask)

    def report(self) -> pd.DataFrame:
        return pd.DataFrame(sparsity_report(self.mask, warn=False))

    def layers(self) -> pd.DataFrame:
        frame = self.report()
        return frame[frame["scope"] == "layer"][["name", "total", "pruned", "sparsity"]].reset_index(drop=True)

    def matrices(self) -> pd.DataFrame:
        frame = self.report()
        frame = frame[frame["scope"] == "matrix"].copy()
        frame["layer"] = frame["name"].str.extract(r"layer\.(\d+)\.")[0]
        frame["matrix"] = (
            frame["name"]
            .str.replace(r"^.*encoder\.layer\.\d+\.", "", regex=True)
            .str.replace(".weight", "", regex=False)
        )
        return frame[["name", "layer", "matrix", "total", "pruned", "sparsity", "fully_pruned"]].reset_index(drop=True)

    def save_pretrained(self, folder: str | os.PathLike) -> Path:
        """mask.safetensors and a model card README.md in `folder` (ticketlib.tickets.ticket_folder)."""
        from ticketlib.tickets.ticket_folder import save_folder

        return save_folder(folder, self.mask, self.meta, self.path, ticket_facts(self))

    @classmethod
    def from_pretrained(cls, source: str | os.PathLike) -> "Ticket":
        """A ticket from a save_pretrained folder, a mask file or a hub id ('owner/name')."""
        from ticketlib.tickets.ticket_folder import mask_file_of

        return load_ticket(mask_file_of(source))

    def apply(self, model, spec=None):
        """Check that the mask fits `model` and zero its masked weights in place; returns the model."""
        from ticketlib.core.config import PrunableSet
        from ticketlib.tickets.ticket_folder import apply_mask

        return apply_mask(self.mask, self.meta, model, spec or PrunableSet())

    def overlap(self, other: "Ticket") -> float:
        """Jaccard similarity of the pruned weights (over the keys both masks have)."""
        keys = sorted(set(self.mask) & set(other.mask))
        return masks_overlap({k: self.mask[k] for k in keys}, {k: other.mask[k] for k in keys})


def ticket_facts(ticket: Ticket) -> dict:
    """What a ticket's model card says (ticketlib.tickets.ticket_folder.facts): its mask metadata and, when
    the mask lies in a find_tickets run folder, the run's recipe and the level's metrics."""
    from ticketlib.tickets.ticket_folder import facts

    path = Path(ticket.path).resolve()
    run = next((p for p in path.parents[1:3] if (p / RUN_FILE).is_file()), None)
    level_file = path.parent / LEVEL_FILE
    return facts(
        ticket.mask,
        ticket.meta,
        ticket.level,
        recipe=read_json(run / RUN_FILE).get("recipe") if run else None,
        level_metrics=read_json(level_file).get("metrics", {}) if run and level_file.is_file() else None,
    )


def imp_folder(ticket: str | os.PathLike) -> Path:
    """The IMP folder (holding level_XX/) of a find_tickets run folder, or the folder itself."""
    path = Path(ticket)
    return path / IMP_DIR if (path / IMP_DIR).is_dir() else path


def available_levels(ticket: str | os.PathLike) -> list[int]:
    folder = imp_folder(ticket)
    return sorted(level_of(p.parent) for p in folder.glob(f"{LEVEL_GLOB}/{LEVEL_FILE}"))


def load_ticket(ticket: str | os.PathLike, level: int | None = None) -> Ticket:
    """A ticket from a mask file, or from a find_tickets/IMP run folder at `level`
    (default: the highest finished level)."""
    path = Path(ticket)
    if path.is_file():
        mask, meta = load_mask(path)
        return Ticket(mask, meta, path, int(meta["level"]) if "level" in meta else None)
    levels = available_levels(path)
    if not levels:
        raise FileNotFoundError(f"{path}: no finished IMP level (not a find_tickets run folder?)")
    level = levels[-1] if level is None else level
    if level not in levels:
        raise ValueError(f"{path}: level {level} is not finished; finished levels: {levels}")
    mask_path = level_dir(imp_folder(path), level) / MASK_FILE
    mask, meta = load_mask(mask_path)
    return Ticket(mask, meta, mask_path, level)


def read_level(ticket: str | os.PathLike, level: int) -> dict:
    return read_json(level_dir(imp_folder(ticket), level) / LEVEL_FILE)


def imp_levels_table(ticket: str | os.PathLike) -> pd.DataFrame:
    """The level.json rows of an IMP run: level, sparsity, steps, seconds, metrics."""
    rows = []
    for level in available_levels(ticket):
        data = read_level(ticket, level)
        rows.append(
            {
                "level": level,
                "sparsity": data["sparsity"],
                "steps": data["steps"],
                "train_seconds": data["train_seconds"],
                **data["metrics"],
            }
        )
    return pd.DataFrame(rows)


def find_ticket_runs(folders: Sequence[str | os.PathLike]) -> list[Path]:
    """The find_tickets runs among `folders` (run.json says so) with at least one finished level."""
    folders = [Path(f) for f in folders]
    return [
        f
        for f in folders
        if (f / RUN_FILE).is_file()
        and read_json(f / RUN_FILE).get("experiment") == "find_tickets"
        and available_levels(f)
    ]


def ticket_runs(runs: Sequence[str | os.PathLike] | str | os.PathLike = ()) -> dict[str, Path]:
    """task -> find_tickets run folder, among the given run folders (empty: every find_tickets run in
    the store)."""
    if isinstance(runs, (str, os.PathLike)):
        runs = [runs] if str(runs) else []
    folders = [Path(r) for r in runs] or run_folders_below(experiment_dir(store_root(), "find_tickets"))
    found: dict[str, Path] = {}
    for folder in find_ticket_runs(folders):
        found.setdefault(read_json(folder / RUN_FILE)["recipe"]["task"], folder)
    return found
