"""Structured baselines paired with a ticket: the ticket's unit counts, other units.

A paired comparison of a structured ticket (ticketlib.core.structured) with random units or OMP must
prune as many heads and as many neurons as the ticket. Re-deriving the counts from the ticket's
weight sparsity does not: each allocation rounds its per-kind counts on its own, and a joint
ranking by other scores splits the weights between heads and neurons differently, so the
baseline would land near the ticket (e.g. 30.31% against 30.19%) with another mix of units.

The contract: a baseline keeps the ticket's count in each group the ticket was ranked in, split
by kind. Scope "layerwise" (the ticket pruned each layer on its own): per layer, the ticket's
number of pruned heads and of pruned neurons. Scope "global": per kind, the ticket's total over
all layers, the baseline's own ranking choosing the layers (as an unstructured global baseline
chooses its matrices). Whatever the allocation ("joint", "equal", "ratio"): it decided how the
ticket's target split between heads and neurons, and the baseline copies that split instead of
redoing it. With equal-size units per kind (an unshrunk model), the baseline's weight sparsity is
then exactly the ticket's.

Ranking within a group: "magnitude" (OMP: mean |w| per unit, ticketlib.core.unit_scores) or "random"
(a seeded uniform score per unit, drawn layer by layer, heads before neurons: the same seed gives
the same mask bit for bit); the lowest-ranked units go, ties broken by position.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import torch
from torch import nn

from ticketlib.core.config import PrunableSet, check_scope
from ticketlib.core.masks import Mask
from ticketlib.core.prunable import prunable_parameters
from ticketlib.core.structured import kinds, layout, warn_collapse
from ticketlib.core.unit_scores import LayerShape, magnitude_scores
from ticketlib.core.units import Units, expand, is_structured, units_from_mask

BASELINE_CRITERIA = ("magnitude", "random")  # Taylor needs a task gradient: theta_0 has none
UnitCounts = Mapping[str, Sequence[int]]  # kind -> pruned units per encoder layer


def pruned_counts(units: Units) -> dict[str, list[int]]:
    """Per kind ("heads", "neurons"), the number of pruned units of each layer."""
    return {kind: [int((~kept).sum()) for kept in units.get(kind)] for kind in ("heads", "neurons")}


def ticket_counts(
    ticket: Mapping[str, torch.Tensor], model: nn.Module, granularity: str, spec: PrunableSet = PrunableSet()
) -> dict[str, list[int]]:
    """The pruned units per kind and layer of a structured `ticket` over `model`'s prunable set; an
    error if it is no unit mask of `granularity` (e.g. an unstructured ticket)."""
    unit_kinds = kinds(granularity)
    if not unit_kinds:
        raise ValueError("unit counts need a unit granularity ('heads', 'neurons', 'heads+neurons'), not 'weights'")
    params = prunable_parameters(model, spec)
    wrong = sorted(set(params) ^ set(ticket)) or [k for k in params if tuple(ticket[k].shape) != tuple(params[k].shape)]
    if wrong:
        raise ValueError(
            f"the ticket does not fit the model's prunable set: '{wrong[0]}' is missing, extra or of "
            "another shape (a ticket of another model or prunable set?)"
        )
    if not is_structured(ticket, model, spec):
        raise ValueError(
            f"the ticket prunes weights outside whole units, so granularity {granularity!r} baselines "
            "cannot copy its heads and neurons: is it from a run with granularity 'weights'?"
        )
    counts = pruned_counts(units_from_mask(ticket, model, spec))
    stray = [kind for kind in ("heads", "neurons") if kind not in unit_kinds and any(counts[kind])]
    if stray:
        raise ValueError(
            f"the ticket prunes {stray[0]}, which granularity {granularity!r} does not: "
            "the baselines' granularity must be the ticket's"
        )
    return counts


def _check_counts(counts: UnitCounts, shapes: list[LayerShape], unit_kinds: tuple[str, ...]) -> None:
    for kind in ("heads", "neurons"):
        if kind in unit_kinds and kind not in counts:
            raise ValueError(f"the counts say nothing of the {kind} the granularity prunes")
        given = list(counts.get(kind, [0] * len(shapes)))
        if len(given) != len(shapes):
            raise ValueError(f"counts of {kind}: {len(given)} layers given, the model has {len(shapes)}")
        for shape, n in zip(shapes, given):
            if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= shape.count(kind):
                raise ValueError(
                    f"counts of {kind} in layer {shape.index}: {n!r} is not an integer from 0 to {shape.count(kind)}"
                )
        if kind not in unit_kinds and any(given):
            raise ValueError(f"the counts prune {kind}, which the granularity does not")


def prune_to_counts(
    model: nn.Module,
    counts: UnitCounts,
    granularity: str,
    spec: PrunableSet = PrunableSet(),
    scope: str = "global",
    criterion: str = "magnitude",
    seed: int | None = None,
) -> Mask:
    """Prune exactly `counts` units (kind -> per layer, as `pruned_counts`): per layer and kind with
    scope 'layerwise', per kind over all layers with 'global' (module docstring). `criterion`
    'magnitude' (OMP) or 'random' (seeded by `seed`); returns the weight mask (ticketlib.core.units.expand)."""
    unit_kinds = kinds(granularity)
    if not unit_kinds:
        raise ValueError(
            "prune_to_counts prunes whole units: it needs granularity 'heads', 'neurons' or "
            "'heads+neurons', not 'weights'"
        )
    if criterion not in BASELINE_CRITERIA:
        raise ValueError(f"a paired baseline ranks by one of {', '.join(BASELINE_CRITERIA)}, not {criterion!r}")
    if (criterion == "random") != (seed is not None):
        raise ValueError("random units need a seed, and only random units use one")
    check_scope(scope)
    shapes = layout(model, spec)
    _check_counts(counts, shapes, unit_kinds)
    generator = torch.Generator().manual_seed(seed) if criterion == "random" else None
    groups: dict[tuple, list] = {}  # ranked together: one kind's units of all layers, or of one layer
    for shape in shapes:
        for kind in unit_kinds:
            scores = (
                magnitude_scores(model, shape, kind)
                if generator is None
                else torch.rand(shape.count(kind), generator=generator)
            )
            groups.setdefault(((shape.index,) if scope == "layerwise" else ()) + (kind,), []).append(
                (shape, kind, scores.float())
            )
    after = Units.full(shapes)
    for group in groups.values():
        order = torch.sort(torch.cat([scores for _, _, scores in group]), stable=True).indices
        keep = torch.ones(len(order), dtype=torch.bool)
        keep[order[: sum(counts[kind][shape.index] for shape, kind, _ in group)]] = False
        for (shape, kind, _), part in zip(group, keep.split([len(scores) for _, _, scores in group])):
            after.get(kind)[shape.index] = part
    warn_collapse(after, unit_kinds)
    return expand(after, model, spec)


def paired_unit_mask(
    model: nn.Module,
    ticket: Mapping[str, torch.Tensor],
    granularity: str,
    spec: PrunableSet = PrunableSet(),
    scope: str = "global",
    criterion: str = "magnitude",
    seed: int | None = None,
) -> Mask:
    """The structured baseline paired with `ticket`: its unit counts (`ticket_counts`), units chosen
    by `criterion` on `model` (OMP: 'magnitude' on theta_0; random units: 'random' with `seed`)."""
    return prune_to_counts(
        model, ticket_counts(ticket, model, granularity, spec), granularity, spec, scope, criterion, seed
    )
