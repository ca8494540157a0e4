"""Early-bird tickets (You et al. 2020, "Drawing early-bird tickets"): stop a level's training
once the mask it would hand to the next level has settled.

While a level below the last trains, the next level's mask is drawn from the current weights
every k steps, by the very pruning call the level's end makes. Two consecutive draws are
compared by their normalised Hamming distance (`mask_distance`); the level stops once
`patience` distances in a row are below `epsilon` (`early_bird_stop`). The stopping rule is a
pure function of the distances, so it is tested exactly; `MaskWatch` is the `on_step` callback
of ticketlib.core.train.fine_tune that draws, measures and says when to stop.

The paper keeps the last 5 masks (one per epoch) and stops when the distances among them are
all below 0.1; the rule here counts consecutive distances, as its text describes. Masks are
nested (pruned weights stay pruned), so two draws can only differ on the weights the level is
about to prune: the distance is at most twice that level's share of the prunable set.
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import torch
from torch import nn

from ticketlib.core.config import EarlyBird
from ticketlib.core.masks import Mask


def mask_distance(a: Mapping[str, torch.Tensor], b: Mapping[str, torch.Tensor]) -> float:
    """Normalised Hamming distance: the fraction of the prunable weights kept in one mask and
    pruned in the other (0: the same mask, 1: complements)."""
    if set(a) != set(b):
        raise ValueError(f"masks cover different parameters: {sorted(set(a) ^ set(b))[:3]}")
    shapes = [k for k in a if a[k].shape != b[k].shape]
    if shapes:
        raise ValueError(
            f"masks disagree on the shape of {shapes[0]}: {tuple(a[shapes[0]].shape)} vs {tuple(b[shapes[0]].shape)}"
        )
    total = sum(m.numel() for m in a.values())
    if total == 0:
        raise ValueError("masks cover no weights")
    return sum(int((a[k] != b[k]).sum()) for k in a) / total


def early_bird_stop(distances: Sequence[float], epsilon: float, patience: int) -> int | None:
    """The index of the first distance that completes `patience` consecutive distances below
    `epsilon` (the check at which training stops), or None if no such run occurs."""
    EarlyBird(epsilon=epsilon, patience=patience)  # the same checks, the same messages
    run = 0
    for index, distance in enumerate(distances):
        run = run + 1 if distance < epsilon else 0
        if run >= patience:
            return index
    return None


class MaskWatch:
    """fine_tune's `on_step` for one early-bird level: every `every` steps, draw the next mask
    with `draw(model)` and compare it with the previous draw; returns True (stop) once the rule
    fires, never before step `min_steps` (e.g. the rewinding step theta_i is saved at).

    After training: `distances` (one per draw after the first), `stopped` (the rule fired) and
    `last` (the last mask drawn; at a stop, the mask of the weights training ended with)."""

    def __init__(self, draw: Callable[[nn.Module], Mask], rule: EarlyBird, every: int, min_steps: int = 0):
        if every < 1:
            raise ValueError(f"early-bird draws every {every} steps; expected >= 1")
        self.draw, self.rule, self.every, self.min_steps = draw, rule, every, min_steps
        self.distances: list[float] = []
        self.last: Mask | None = None
        self.stopped = False

    def __call__(self, step: int, model: nn.Module) -> bool:
        if step % self.every:
            return False
        mask = self.draw(model)
        if self.last is not None:
            self.distances.append(mask_distance(self.last, mask))
        self.last = mask
        fired = early_bird_stop(self.distances, self.rule.epsilon, self.rule.patience) is not None
        self.stopped = fired and step >= self.min_steps
        return self.stopped
