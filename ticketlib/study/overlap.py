"""Ticket or magnitude pruning? How far each task's ticket is from the one-shot magnitude mask of
theta_0 at the same sparsity, and from the other tasks' tickets: Jaccard of the pruned weights,
as tidy rows (method "mask_overlap", metric "jaccard") that a study writes beside its results,
so that a committed study carries them without its masks.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Mapping

import pandas as pd

from ticketlib.core.masks import masks_overlap, sparsity
from ticketlib.foundations.paths import RUN_FILE
from ticketlib.tickets.results import in_row_order
from ticketlib.tickets.ticket import Ticket

OVERLAP_METHOD = "mask_overlap"
THETA0 = "theta0-magnitude"  # the source_task of a ticket's overlap with theta_0's magnitude mask
METRIC = "jaccard"


def _shared(a: Mapping, b: Mapping) -> tuple[dict, dict]:
    keys = sorted(set(a) & set(b))
    return {k: a[k] for k in keys}, {k: b[k] for k in keys}


def overlap_rows(
    tickets: Mapping[str, Ticket],
    references: Mapping[str, Mapping] | None = None,
    seeds: Mapping[str, int] | None = None,
) -> pd.DataFrame:
    """One row per task against theta_0's magnitude mask (`references`: task -> that mask at the
    ticket's sparsity) and per pair of tasks (both orders, for a symmetric table)."""
    out = []

    def add(task, other, value, ticket):
        out.append(
            {
                "experiment": "summary",
                "method": OVERLAP_METHOD,
                "task": task,
                "source_task": other,
                "seed": (seeds or {}).get(task, 0),
                "level": ticket.level,
                "sparsity": round(ticket.sparsity, 6),
                "rewind_step": 0,
                "metric": METRIC,
                "value": value,
            }
        )

    for task, ticket in tickets.items():
        if references and task in references:
            add(task, THETA0, masks_overlap(*_shared(ticket.mask, references[task])), ticket)
        for other, theirs in tickets.items():
            if other != task:
                add(task, other, ticket.overlap(theirs), ticket)
    return in_row_order(pd.DataFrame(out))


def theta0_magnitude_mask(ticket: Ticket, run_folder: str | Path) -> dict:
    """The one-shot magnitude mask of theta_0 (OMP's) at the ticket's sparsity, over the prunable set
    and scope of the ticket's own run (its run.json recipe); for a structured ticket, OMP's units at
    exactly the ticket's counts per kind (ticketlib.core.unit_baselines), as the OMP baseline."""
    from ticketlib.core.imp import one_shot_magnitude_mask
    from ticketlib.core.unit_baselines import paired_unit_mask
    from ticketlib.foundations.atomic import read_json
    from ticketlib.tasks.params import Recipe
    from ticketlib.tasks.run_inputs import fresh_model

    recipe = Recipe(**read_json(Path(run_folder) / RUN_FILE)["recipe"])
    model, _ = fresh_model(recipe, seed=0)
    config = recipe.prune_config()
    if config.granularity != "weights":
        return paired_unit_mask(model, ticket.mask, config.granularity, config.spec(), recipe.scope, "magnitude")
    return one_shot_magnitude_mask(
        model,
        sparsity(ticket.mask),
        spec=config.spec(),
        scope=recipe.scope,
        granularity=config.granularity,
        allocation=config.structured_allocation,
        head_ratio=config.structured_head_ratio,
    )


def study_overlap_rows(ticket_runs: Mapping[str, str | Path], tickets: Mapping[str, Ticket]) -> pd.DataFrame:
    """overlap_rows for a study's tickets, with each ticket's theta_0 magnitude mask computed where
    its run's model can be loaded here (a store copied from a machine with other checkpoints may
    not): without it, only the overlaps between tasks."""
    from ticketlib.tasks.models import ModelUnavailableError

    references = {}
    for task, ticket in tickets.items():
        try:
            references[task] = theta0_magnitude_mask(ticket, ticket_runs[task])
        except ModelUnavailableError as error:
            warnings.warn(
                f"{task}: no theta_0 magnitude overlap, its model cannot be loaded here ({error})", stacklevel=2
            )
    return overlap_rows(tickets, references)
