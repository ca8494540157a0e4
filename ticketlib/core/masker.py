"""Keeping pruned weights at exactly zero during training, at the cost of dense training.

torch.nn.utils.prune re-computes weight = weight_orig * mask on every forward (an extra
multiply and a second copy of every weight, plus autograd through the product). Here the
weights themselves are zeroed in place instead, once when the mask is applied, and
`attach(optimizer)` keeps them at zero:

- the gradient of each pruned weight is zeroed in backward, as soon as it is accumulated
  (while it is still in cache), so gradient clipping and optimizer statistics see what a
  re-parametrised model would;
- AdamW, Adam and SGD (with or without momentum, weight decay, amsgrad, nesterov) then leave
  a weight whose value, gradient and optimizer state are all zero exactly at zero, so for them
  nothing more is done (their state is zeroed at pruned positions when attaching or when the
  mask changes); after any other optimizer's step the weights are multiplied by the mask
  again, so no optimizer can revive one (`rezero_after_step="always"` forces that).
"""

from __future__ import annotations

from typing import Literal, Mapping

import torch
from torch import nn

from ticketlib.core.config import PrunableSet
from ticketlib.core.mask_io import check_fits
from ticketlib.core.prunable import prunable_parameters

# Optimizers whose update of a weight with zero value, zero gradient and zero state is exactly
# zero (decoupled or L2 weight decay of 0 is 0; Adam's 0 / (sqrt(0) + eps) is 0). Subclasses
# are not trusted: they may change the update.
ZERO_PRESERVING = (torch.optim.AdamW, torch.optim.Adam, torch.optim.SGD)


class Masker:
    """Binds a mask to a model's prunable weights and keeps them pruned.

    rezero_after_step: "auto" multiplies the weights by the mask after an optimizer step only
        for optimizers outside ZERO_PRESERVING; "always" after every step (one more pass over
        the prunable weights per step, the previous default; the result is the same for AdamW).
    """

    def __init__(
        self,
        model: nn.Module,
        mask: Mapping[str, torch.Tensor],
        spec: PrunableSet = PrunableSet(),
        rezero_after_step: Literal["auto", "always"] = "auto",
    ):
        if rezero_after_step not in ("auto", "always"):
            raise ValueError(f"rezero_after_step must be 'auto' or 'always', not {rezero_after_step!r}")
        check_fits(mask, model, spec)
        params = prunable_parameters(model, spec)
        self.keys = [k for k in params if k in mask]  # a pooler the mask omits stays dense
        self.params = [params[k] for k in self.keys]
        self.mask = {k: mask[k].to(torch.bool) for k in self.keys}
        self.rezero_after_step = rezero_after_step
        self._factors = None  # 0/1 tensors in each weight's dtype and device, built lazily
        self._optimizers: list[torch.optim.Optimizer] = []

    def set_mask(self, mask: Mapping[str, torch.Tensor]) -> None:
        """Swap in a new mask (pruning during training) and apply it, to the weights and to the
        state of every attached optimizer."""
        self.mask = {k: mask[k].to(torch.bool) for k in self.keys}
        self._factors = None
        self.apply()
        for optimizer in self._optimizers:
            self._mask_state(optimizer)

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
        """Zero the gradients of pruned weights (for a loop without `attach`; idempotent)."""
        pairs = [(p.grad, m) for p, m in zip(self.params, self._multipliers()) if p.grad is not None]
        if pairs:
            grads, factors = zip(*pairs)
            torch._foreach_mul_(list(grads), list(factors))

    @torch.no_grad()
    def _mask_state(self, optimizer: torch.optim.Optimizer) -> None:
        """Zero the optimizer's per-weight state (moments, momentum) at pruned positions."""
        for p, factor in zip(self.params, self._multipliers()):
            for value in optimizer.state.get(p, {}).values():
                if torch.is_tensor(value) and value.shape == p.shape:
                    value.mul_(factor)

    def attach(self, optimizer: torch.optim.Optimizer) -> "Attachment":
        """Keep the pruned weights at zero while `optimizer` trains them: gradients are masked
        in backward and, for optimizers that could revive a weight, the weights after each
        step (see the module's docstring). Returns a handle; `.remove()` detaches."""
        self._mask_state(optimizer)
        self._optimizers.append(optimizer)
        index = {id(p): i for i, p in enumerate(self.params)}

        @torch.no_grad()
        def mask_grad(p: torch.Tensor) -> None:
            p.grad.mul_(self._multipliers()[index[id(p)]])

        handles = [p.register_post_accumulate_grad_hook(mask_grad) for p in self.params]
        if self.rezero_after_step == "always" or type(optimizer) not in ZERO_PRESERVING:
            handles.append(optimizer.register_step_post_hook(lambda *_: self.apply()))
        return Attachment(handles, lambda: self._optimizers.remove(optimizer))

    def pruned_are_zero(self) -> bool:
        return all(bool((p[~self.mask[k].to(p.device)] == 0).all()) for k, p in zip(self.keys, self.params))


class Attachment:
    """What `Masker.attach` registered; `remove()` undoes it."""

    def __init__(self, handles: list, on_remove) -> None:
        self.handles, self.on_remove = handles, on_remove

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles = []
        if self.on_remove is not None:
            self.on_remove()
            self.on_remove = None
