"""Structured tickets: masks over whole attention heads and FFN neurons.

A *unit* is an attention head or an FFN neuron (an intermediate unit) of an encoder layer:

- head h of layer i owns rows h*d ... (h+1)*d - 1 of the query, key and value weights and
  the same columns of ``attention.output.dense.weight`` (d = the head size);
- neuron j of layer i owns row j of ``intermediate.dense.weight`` and column j of
  ``output.dense.weight``.

A unit mask (`Units`, ticketlib.core.units: per layer, one bool per head and one per neuron,
True = kept) expands to an ordinary weight mask over the prunable matrices (`expand`), so IMP,
the Masker, mask files, reports and transfer read structured tickets unchanged; the unit mask
itself goes into the mask file's metadata (`unit_metadata`, JSON lists of pruned indices per
layer) and can always be recovered from the weight mask (`units_from_mask`). Biases are never
pruned (as in the paper): a pruned head or neuron still computes with its bias, but the zeroed
columns of the following matrix stop its output, so the unit contributes exactly nothing and
`ticketlib.core.shrink` can remove it physically without changing the logits.

Granularity (`PruneConfig.granularity`): "weights" (the paper: unstructured), "heads",
"neurons" or "heads+neurons".

How much is pruned. Every target in this module is, as everywhere in ticketlib, a
*weight* sparsity over the whole prunable set (what `masks.sparsity` reports). Units cover
only part of that set (`coverage`: the fraction of prunable weights owned by the
granularity's units; heads own 1/3 of each layer's matrices, neurons 2/3, the pooler is
never a unit), so structured pruning removes the lowest-ranked units until the number of
pruned weights is the closest reachable to round(target * N) (ties: fewer units); a target
above the coverage is an error. IMP's schedule is read as the fraction of the *covered*
weights (`level_target`: for equal-size units, the fraction of units): level k of the
paper's schedule prunes k * rate of the heads (or neurons), i.e. a weight sparsity of
k * rate * coverage. A baseline paired with a structured ticket does not re-derive its counts
from the ticket's weight sparsity: it prunes exactly the ticket's heads and neurons
(ticketlib.core.unit_baselines).

Ranking (`criterion`, scores in ticketlib.core.unit_scores): "magnitude" (default, the structured
analogue of IMP) scores a unit by the mean |w| over the weights it owns, i.e. its L1 norm divided
by its weight count; for one kind of unit that orders units exactly as the L1 norm does, and with
heads+neurons the per-weight normalisation makes a head (4*d*hidden weights) and a neuron
(2*hidden weights) comparable. "taylor" scores it by the mean of |w| times |gradient| summed over
a few training batches (`gradients`, from ticketlib.core.train.gradient_totals). "random" draws a
seeded uniform score per unit (the random-pruning baseline). Ties break by position (layer, then
heads before neurons, then index). Scope "global" ranks all units of all layers together (the
paper's global scope); "layerwise" prunes each layer to the same fraction of its covered weights.
Pruning is nested: units already pruned in `current` stay pruned.

Allocation (heads+neurons only): "joint" (default) ranks heads and neurons together, so the
scores' scales decide the split (with mean |w|, almost only neurons go: 67 of 72 heads kept at
60%); "equal" prunes each kind to the same fraction of its own weights, target * N / covered;
"ratio" prunes heads at `head_ratio` times the neurons' fraction (`kind_fractions`). Each kind
(per layer, with scope "layerwise") then counts on its own, so the total can differ from
round(target * N) by up to one unit of each kind.

Layer collapse: when every head (or every neuron) of a layer is pruned, a warning says so
(the layer's attention or FFN then passes only its biases on).
"""

from __future__ import annotations

import warnings
from typing import Literal, Mapping

import torch
from torch import nn

from ticketlib.core.config import TAYLOR_BATCHES, PrunableSet, check_granularity, check_scope, check_structured_options
from ticketlib.core.masks import Mask, check_sparsity, magnitude_prune, random_prune
from ticketlib.core.prunable import prunable_parameters, prunable_state
from ticketlib.core.unit_scores import LayerShape, check_gradients, layout, magnitude_scores, taylor_scores
from ticketlib.core.units import Units, expand, is_structured, units_from_mask

CRITERIA = ("magnitude", "taylor", "random")
Granularity = Literal["weights", "heads", "neurons", "heads+neurons"]


def kinds(granularity: str) -> tuple[str, ...]:
    """The unit kinds a granularity prunes: ("heads",), ("neurons",), both, or () for weights."""
    check_granularity(granularity)
    return {"weights": (), "heads": ("heads",), "neurons": ("neurons",), "heads+neurons": ("heads", "neurons")}[
        granularity
    ]


def coverage(model: nn.Module, granularity: str, spec: PrunableSet = PrunableSet()) -> float:
    """The fraction of the prunable weights owned by the granularity's units (1 for weights)."""
    if granularity == "weights":
        return 1.0
    total = sum(p.numel() for p in prunable_parameters(model, spec).values())
    covered = sum(
        s.unit_weights(kind) * (s.heads if kind == "heads" else s.neurons)
        for s in layout(model, spec)
        for kind in kinds(granularity)
    )
    return covered / total


def level_target(model: nn.Module, granularity: str, fraction: float, spec: PrunableSet = PrunableSet()) -> float:
    """The weight sparsity of an IMP level whose schedule says `fraction`: the fraction itself
    for weights, fraction * coverage for units (the schedule counts the covered weights)."""
    return check_sparsity(fraction) * coverage(model, granularity, spec)


def _choose(
    scores: torch.Tensor, sizes: torch.Tensor, pruned_before: torch.Tensor, n_target: int, where: str
) -> torch.Tensor:
    """Prune the lowest-scoring units (already pruned ones first) so that the pruned weight
    count is the closest reachable to n_target; returns keep flags."""
    capacity = int(sizes.sum())
    if n_target > capacity:
        raise ValueError(f"{where}: the target prunes {n_target} weights but the units hold only {capacity}")
    ranked = torch.where(pruned_before, torch.full_like(scores, -torch.inf), scores)
    order = torch.sort(ranked, stable=True).indices
    cumulative = torch.cat([torch.zeros(1, dtype=torch.long), sizes[order].cumsum(0)])
    k = int(torch.argmin((cumulative - n_target).abs()))  # first minimum: fewer units on a tie
    already = int(pruned_before.sum())
    if k < already:
        raise ValueError(
            f"{where}: the target prunes {n_target} weights but {int(cumulative[already])} are "
            "already pruned: masks must be nested (sparsity can only grow)"
        )
    keep = torch.ones_like(pruned_before)
    keep[order[:k]] = False
    return keep


def kind_fractions(
    shapes: list[LayerShape], allocation: str, head_ratio: float, n_target: float
) -> dict[str, float] | None:
    """Per kind, the fraction of its own covered weights to prune so that the two together prune
    `n_target` weights, heads at `head_ratio` times the neurons' fraction ('equal': the same
    fraction); None for 'joint' (one ranking decides the split)."""
    if allocation == "joint":
        return None
    covered = {kind: sum(s.unit_weights(kind) * s.count(kind) for s in shapes) for kind in ("heads", "neurons")}
    ratio = 1.0 if allocation == "equal" else float(head_ratio)
    neurons = n_target / (ratio * covered["heads"] + covered["neurons"])
    fractions = {"heads": ratio * neurons, "neurons": neurons}
    over = [kind for kind, fraction in fractions.items() if round(fraction * covered[kind]) > covered[kind]]
    if over:
        raise ValueError(
            f"structured_allocation {allocation!r} (head ratio {ratio}) would prune "
            f"{fractions[over[0]]:.4f} of the {over[0]}' weights for this target: more than all of them"
        )
    return fractions


def _unit_scores(
    model: nn.Module,
    shape: LayerShape,
    kind: str,
    criterion: str,
    generator: torch.Generator | None,
    gradients: Mapping[str, torch.Tensor] | None,
) -> torch.Tensor:
    if criterion == "magnitude":
        return magnitude_scores(model, shape, kind)
    if criterion == "taylor":
        return taylor_scores(model, shape, kind, gradients)
    return torch.rand(shape.count(kind), generator=generator)


def _check_request(
    granularity: str, scope: str, criterion: str, seed: int | None, allocation: str, head_ratio: float, gradients
) -> tuple[str, ...]:
    unit_kinds = kinds(granularity)
    if not unit_kinds:
        raise ValueError("structured_prune needs a unit granularity, not 'weights'")
    if criterion not in CRITERIA:
        raise ValueError(f"unknown ranking criterion {criterion!r}; expected one of {', '.join(CRITERIA)}")
    if criterion == "random" and seed is None:
        raise ValueError("random unit pruning needs a seed")
    if gradients is not None and criterion != "taylor":
        raise ValueError(f"gradient totals are used by the 'taylor' criterion only, not {criterion!r}")
    check_scope(scope)
    check_structured_options(granularity, allocation, head_ratio, "magnitude", TAYLOR_BATCHES)
    return unit_kinds


def _current_units(
    model: nn.Module, current: Mask | None, shapes: list[LayerShape], granularity: str, spec: PrunableSet
) -> Units:
    if current is None:
        return Units.full(shapes)
    before = units_from_mask(current, model, spec)
    if not is_structured(current, model, spec):
        raise ValueError("the current mask prunes weights outside whole units: it is not a structured mask")
    stray = [k for k in unit_kinds_other(granularity) if any(not bool(t.all()) for t in before.get(k))]
    if stray:
        raise ValueError(f"the current mask prunes {stray[0]}, which granularity {granularity!r} does not")
    return before


def structured_prune(
    model: nn.Module,
    target: float,
    granularity: str,
    spec: PrunableSet = PrunableSet(),
    current: Mask | None = None,
    scope: str = "global",
    criterion: str = "magnitude",
    seed: int | None = None,
    allocation: str = "joint",
    head_ratio: float = 1.0,
    gradients: Mapping[str, torch.Tensor] | None = None,
) -> Mask:
    """Prune whole units of `granularity` to a weight sparsity of `target` over the prunable
    set (see the module docstring for the count, the ranking, the allocation and the scope).
    `gradients`: per prunable matrix, the summed |gradient| the 'taylor' criterion needs."""
    check_sparsity(target)
    unit_kinds = _check_request(granularity, scope, criterion, seed, allocation, head_ratio, gradients)
    shapes = layout(model, spec)
    if criterion == "taylor":
        check_gradients(gradients, shapes, model)
    total = sum(p.numel() for p in prunable_parameters(model, spec).values())
    before = _current_units(model, current, shapes, granularity, spec)
    generator = torch.Generator().manual_seed(seed) if criterion == "random" else None
    # Flat unit list in tie-break order: layer, then heads before neurons, then index.
    entries = [
        (shape, kind, _unit_scores(model, shape, kind, criterion, generator, gradients), shape.unit_weights(kind))
        for shape in shapes
        for kind in unit_kinds
    ]
    covered = sum(size * len(scores) for _, _, scores, size in entries)
    fraction = target * total / covered  # of the covered weights
    if round(target * total) > covered:
        raise ValueError(
            f"granularity {granularity!r} can prune at most {covered / total:.4f} of the prunable "
            f"weights (its units' share); the target is {target}"
        )
    fractions = kind_fractions(shapes, allocation, head_ratio, target * total)
    groups: dict[tuple, list] = {}  # ranked together: all units, or one layer's, or one kind's (of a layer)
    for entry in entries:
        key = ((entry[0].index,) if scope == "layerwise" else ()) + ((entry[1],) if fractions else ())
        groups.setdefault(key, []).append(entry)
    after = Units([t.clone() for t in before.heads], [t.clone() for t in before.neurons])
    for group in groups.values():
        scores = torch.cat([e[2].float() for e in group])
        sizes = torch.cat([torch.full((len(e[2]),), e[3], dtype=torch.long) for e in group])
        previous = torch.cat([~before.get(e[1])[e[0].index] for e in group])
        group_covered = int(sizes.sum())
        if scope == "global" and fractions is None:
            n_target = round(target * total)
        else:
            n_target = round((fractions[group[0][1]] if fractions else fraction) * group_covered)
        where = ("global" if scope == "global" else f"layer {group[0][0].index}") + (
            f" {group[0][1]}" if fractions else ""
        )
        keep = _choose(scores, sizes, previous, min(n_target, group_covered), where)
        for (shape, kind, _, _), part in zip(group, keep.split([len(e[2]) for e in group])):
            after.get(kind)[shape.index] = part
    warn_collapse(after, unit_kinds)
    return expand(after, model, spec)


def unit_kinds_other(granularity: str) -> tuple[str, ...]:
    return tuple(k for k in ("heads", "neurons") if k not in kinds(granularity))


def collapsed_layers(units: Units) -> dict[str, list[int]]:
    """Layers whose heads (or neurons) are all pruned."""
    return {
        kind: [i for i, kept in enumerate(units.get(kind)) if len(kept) and not bool(kept.any())]
        for kind in ("heads", "neurons")
    }


def warn_collapse(units: Units, unit_kinds: tuple[str, ...] = ("heads", "neurons")) -> None:
    collapsed = collapsed_layers(units)
    for kind in unit_kinds:
        if collapsed[kind]:
            warnings.warn(
                f"LAYER COLLAPSE: every {kind[:-1]} of encoder layer(s) {collapsed[kind]} is pruned; "
                f"there the {'attention' if kind == 'heads' else 'FFN'} passes only its biases on",
                stacklevel=3,
            )


def prune(
    model: nn.Module,
    target: float,
    granularity: str = "weights",
    spec: PrunableSet = PrunableSet(),
    current: Mask | None = None,
    scope: str = "global",
    criterion: str = "magnitude",
    seed: int | None = None,
    allocation: str = "joint",
    head_ratio: float = 1.0,
    gradients: Mapping[str, torch.Tensor] | None = None,
) -> Mask:
    """The dispatcher the drivers call: weights -> masks.magnitude_prune / random_prune (the
    paper's unstructured pruning, unchanged); a unit granularity -> structured_prune."""
    check_granularity(granularity)
    if granularity != "weights":
        return structured_prune(
            model, target, granularity, spec, current, scope, criterion, seed, allocation, head_ratio, gradients
        )
    check_structured_options(granularity, allocation, head_ratio, "magnitude", TAYLOR_BATCHES)
    if criterion == "taylor" or gradients is not None:
        raise ValueError(
            "ranking criterion 'taylor' scores whole units: it needs granularity 'heads', 'neurons' "
            "or 'heads+neurons', not 'weights'"
        )
    if criterion == "magnitude":
        return magnitude_prune(prunable_state(model, spec), target, current=current, scope=scope)
    if criterion == "random":
        return random_prune(prunable_parameters(model, spec), target, seed, current=current, scope=scope)
    raise ValueError(f"unknown ranking criterion {criterion!r}; expected one of {', '.join(CRITERIA)}")
