"""Keeping pruned weights at exactly zero during training, at the cost of dense training.

torch.nn.utils.prune re-computes weight = weight_orig * mask on every forward (an extra
multiply and a second copy of every weight, plus autograd through the product). Here the
weights themselves are zeroed in place instead: once when the mask is applied, the
gradients of pruned weights after each backward (so gradient clipping and optimizer
statistics see what a re-parametrised model would), and the weights again after every
optimizer step (so no optimizer, AdamW with weight decay or momentum SGD, can revive one).
Each is one fused multi-tensor multiply over the prunable set.
"""

from __future__ import annotations

from typing import Mapping

import torch
from torch import nn

from .mask_files import check_fits
from .prunable import PrunableSet, prunable_parameters


class Masker:
    """Binds a mask to a model's prunable weights and keeps them pruned."""

    def __init__(self, model: nn.Module, mask: Mapping[str, torch.Tensor], spec: PrunableSet = PrunableSet()):
        check_fits(mask, model, spec)
        params = prunable_parameters(model, spec)
        self.keys = [k for k in params if k in mask]  # a pooler the mask omits stays dense
        self.params = [params[k] for k in self.keys]
        self.mask = {k: mask[k].to(torch.bool) for k in self.keys}
        self._factors = None  # 0/1 tensors in each weight's dtype and device, built lazily

    def set_mask(self, mask: Mapping[str, torch.Tensor]) -> None:
        """Swap in a new mask (pruning during training) and apply it."""
        self.mask = {k: mask[k].to(torch.bool) for k in self.keys}
        self._factors = None
        self.apply()

    def _multipliers(self) -> list[torch.Tensor]:
        p0 = self.params[0]
        if self._factors is None or self._factors[0].device != p0.device or self._factors[0].dtype != p0.dtype:
            self._factors = [self.mask[k].to(device=p.device, dtype=p.dtype) for k, p in zip(self.keys, self.params)]
        return self._factors

    @torch.no_grad()
    def apply(self) -> None:
        """Zero the pruned weights in place."""
        torch._foreach_mul_(self.params, self._multipliers())

    @torch.no_grad()
    def mask_grads(self) -> None:
        """Zero the gradients of pruned weights (call between backward and clipping/step)."""
        pairs = [(p.grad, m) for p, m in zip(self.params, self._multipliers()) if p.grad is not None]
        if pairs:
            grads, factors = zip(*pairs)
            torch._foreach_mul_(list(grads), list(factors))

    def attach(self, optimizer: torch.optim.Optimizer):
        """Re-apply the mask after every `optimizer.step()`; returns the hook handle."""
        return optimizer.register_step_post_hook(lambda *_: self.apply())

    def pruned_are_zero(self) -> bool:
        return all(bool((p[~self.mask[k].to(p.device)] == 0).all()) for k, p in zip(self.keys, self.params))
