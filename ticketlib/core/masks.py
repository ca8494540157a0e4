"""Masks: which prunable weights are kept.

A mask is a plain ``dict[str, torch.BoolTensor]`` keyed by prunable parameter name
(relative to the base model, see prunable.py), True = kept. Pruning is exact: a target
sparsity s of a set of N weights removes exactly round(s * N) of them, breaking ties
between equal magnitudes by position (module order, then row-major), so the same weights
always give the same mask. Pruning is nested: weights pruned before stay pruned.
"""

from __future__ import annotations

import math
import warnings
from typing import Literal, Mapping

import torch

from ticketlib.core.prunable import layer_of

Mask = dict[str, torch.Tensor]
Scope = Literal["global", "layerwise"]


def check_sparsity(sparsity: float, name: str = "sparsity") -> float:
    if isinstance(sparsity, bool) or not isinstance(sparsity, (int, float)) or not 0 <= sparsity < 1:
        raise ValueError(f"{name} must be a number in [0, 1), got {sparsity!r}")
    return float(sparsity)


def full_mask(weights: Mapping[str, torch.Tensor]) -> Mask:
    """Keep everything (level 0, the dense model)."""
    return {k: torch.ones_like(w, dtype=torch.bool, device="cpu") for k, w in weights.items()}


def sparsity(mask: Mapping[str, torch.Tensor]) -> float:
    """Fraction of the prunable set that is pruned."""
    total = sum(m.numel() for m in mask.values())
    kept = sum(int(m.sum()) for m in mask.values())
    return 1.0 - kept / total


def _prune_lowest(scores: torch.Tensor, keep: torch.Tensor, n_prune: int) -> torch.Tensor:
    """Prune the n_prune lowest-scoring entries of a flat vector; already-pruned ones count first."""
    already = int((~keep).sum())
    if n_prune < already:
        raise ValueError(
            f"target prunes {n_prune} weights but {already} are already pruned: "
            "masks must be nested (sparsity can only grow)"
        )
    new_keep = torch.ones_like(keep)
    if n_prune == 0:
        return new_keep
    ranked = torch.where(keep, scores, torch.full_like(scores, -math.inf))
    # Exactly what a stable sort would prune, in O(N): everything below the n_prune-th lowest
    # score, then the earliest positions among the entries tied at it.
    threshold = ranked.kthvalue(n_prune).values
    below = ranked < threshold
    tied = (ranked == threshold).nonzero().squeeze(1)
    new_keep[below] = False
    new_keep[tied[: n_prune - int(below.sum())]] = False
    return new_keep


def _prune(scores: Mapping[str, torch.Tensor], target: float, current: Mask | None, scope: Scope) -> Mask:
    check_sparsity(target)
    keys = list(scores)
    current = current if current is not None else full_mask(scores)
    if set(current) != set(keys):
        raise ValueError(f"current mask and weights disagree: {sorted(set(current) ^ set(keys))[:1]}")
    if scope == "layerwise":
        return {
            k: _prune_lowest(
                scores[k].flatten().float().cpu(), current[k].flatten(), round(target * scores[k].numel())
            ).view(scores[k].shape)
            for k in keys
        }
    if scope != "global":
        raise ValueError(f"unknown pruning scope {scope!r}; expected 'global' or 'layerwise'")
    flat_scores = torch.cat([scores[k].flatten().float().cpu() for k in keys])
    flat_keep = torch.cat([current[k].flatten() for k in keys])
    keep = _prune_lowest(flat_scores, flat_keep, round(target * flat_scores.numel()))
    return dict(
        zip(keys, (part.view(scores[k].shape) for k, part in zip(keys, keep.split([scores[k].numel() for k in keys]))))
    )


def magnitude_prune(
    weights: Mapping[str, torch.Tensor], target: float, current: Mask | None = None, scope: Scope = "global"
) -> Mask:
    """Keep the largest-|w| weights so that `target` of the set is pruned (the paper: global L1)."""
    return _prune({k: w.detach().abs() for k, w in weights.items()}, target, current, scope)


def random_prune(
    weights: Mapping[str, torch.Tensor], target: float, seed: int, current: Mask | None = None, scope: Scope = "global"
) -> Mask:
    """Prune uniformly at random (seeded) to exactly the same counts as magnitude pruning would."""
    generator = torch.Generator().manual_seed(seed)
    scores = {k: torch.rand(w.shape, generator=generator) for k, w in weights.items()}
    return _prune(scores, target, current, scope)


def sparsity_report(mask: Mapping[str, torch.Tensor], warn: bool = True) -> list[dict]:
    """One row per matrix, per layer and overall: total, pruned, sparsity.

    A fully pruned matrix cuts the network (e.g. MiniLM's untrained pooler): it is flagged in
    the row and, with warn=True, in a loud warning.
    """
    rows, layers = [], {}
    for key, m in mask.items():
        total, pruned = m.numel(), m.numel() - int(m.sum())
        rows.append(
            {
                "scope": "matrix",
                "name": key,
                "total": total,
                "pruned": pruned,
                "sparsity": pruned / total,
                "fully_pruned": pruned == total,
            }
        )
        agg = layers.setdefault(layer_of(key), [0, 0])
        agg[0] += total
        agg[1] += pruned
    rows += [
        {"scope": "layer", "name": name, "total": t, "pruned": p, "sparsity": p / t, "fully_pruned": p == t}
        for name, (t, p) in layers.items()
    ]
    total = sum(r["total"] for r in rows if r["scope"] == "matrix")
    pruned = sum(r["pruned"] for r in rows if r["scope"] == "matrix")
    rows.append(
        {
            "scope": "overall",
            "name": "all",
            "total": total,
            "pruned": pruned,
            "sparsity": pruned / total,
            "fully_pruned": pruned == total,
        }
    )
    dead = [r["name"] for r in rows if r["scope"] == "matrix" and r["fully_pruned"]]
    if warn and dead:
        warnings.warn(
            f"FULLY PRUNED: {len(dead)} matrix(es) have no weights left, the network is "
            f"cut there: {', '.join(dead[:5])}{' ...' if len(dead) > 5 else ''}. "
            "Consider PrunableSet(include_pooler=False) for an untrained pooler.",
            stacklevel=2,
        )
    return rows


def masks_overlap(a: Mapping[str, torch.Tensor], b: Mapping[str, torch.Tensor]) -> float:
    """Jaccard similarity of the *pruned* sets of two masks over the same keys."""
    if set(a) != set(b):
        raise ValueError("masks cover different parameters")
    inter = sum(int((~a[k] & ~b[k]).sum()) for k in a)
    union = sum(int((~a[k] | ~b[k]).sum()) for k in a)
    return inter / union if union else 1.0
