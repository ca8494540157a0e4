"""Rewinding: snapshots of the base model (theta_0, theta_i) and the task head's policy.

After each pruning step IMP puts every base-model weight (embeddings, LayerNorm, biases,
pooler, masked matrices) back to a snapshot, bit for bit, and re-applies the mask. The
task head is a separate, named choice (`HeadPolicy`):
  "reinit": draw a fresh head, seeded (the default: each level is a clean ticket test);
  "keep":   keep the head's trained values (what the reference code does, by omission);
  "rewind": put the head back to its own initial values.
"""

from __future__ import annotations

from typing import Literal, Mapping

import torch
from torch import nn

from ticketlib.core.config import HEAD_POLICIES
from ticketlib.core.prunable import base_model

HeadPolicy = Literal["reinit", "keep", "rewind"]


@torch.no_grad()
def snapshot(module: nn.Module) -> dict[str, torch.Tensor]:
    """A CPU copy of every parameter and buffer of `module` (its state dict)."""
    return {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}


def base_snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    """theta: the base model's weights, keyed like mask keys (relative to the base model)."""
    return snapshot(base_model(model))


def head_parameters(model: nn.Module) -> dict[str, nn.Parameter]:
    """Parameters outside the base model (classifier, QA or MLM head), tied weights excluded."""
    base_ids = {id(p) for p in base_model(model).parameters()}
    return {n: p for n, p in model.named_parameters() if id(p) not in base_ids}


def head_snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().to("cpu", copy=True) for n, p in head_parameters(model).items()}


@torch.no_grad()
def load_snapshot(module_params: Mapping[str, torch.Tensor], values: Mapping[str, torch.Tensor]) -> None:
    for name, target in module_params.items():
        target.copy_(values[name])


@torch.no_grad()
def rewind(model: nn.Module, theta: Mapping[str, torch.Tensor], masker=None) -> None:
    """Set every base-model weight to `theta` bit for bit, then re-apply the mask."""
    base = base_model(model)
    state = base.state_dict()
    missing = [k for k in state if k not in theta]
    if missing:
        raise ValueError(f"snapshot lacks '{missing[0]}': it was taken from another model")
    for name, tensor in state.items():
        tensor.copy_(theta[name])
    if masker is not None:
        masker.apply()


@torch.no_grad()
def init_like_bert(root: nn.Module, params: Mapping[str, nn.Parameter], seed: int) -> None:
    """BERT's initialisation of `params` (names relative to `root`), from a generator seeded
    with `seed`: weights normal(0, initializer_range), biases zero, LayerNorm ones/zeros, the
    embedding's padding row zero."""
    std = getattr(getattr(root, "config", None), "initializer_range", 0.02)
    generator = torch.Generator().manual_seed(seed)
    for name, param in params.items():
        owner = root.get_submodule(name.rpartition(".")[0])
        if isinstance(owner, nn.LayerNorm):
            param.fill_(1.0 if name.endswith("weight") else 0.0)
        elif name.endswith("bias"):
            param.zero_()
        else:
            param.copy_(torch.normal(0.0, std, param.shape, generator=generator))
            if isinstance(owner, nn.Embedding) and owner.padding_idx is not None:
                param[owner.padding_idx].zero_()


def reinit_head(model: nn.Module, seed: int) -> None:
    """Draw a fresh task head (BERT's initialisation, seeded)."""
    init_like_bert(model, head_parameters(model), seed)


def reset_head(
    model: nn.Module, policy: HeadPolicy, seed: int, initial_head: Mapping[str, torch.Tensor] | None = None
) -> None:
    """Apply the head policy between IMP levels."""
    if policy == "reinit":
        reinit_head(model, seed)
    elif policy == "rewind":
        if initial_head is None:
            raise ValueError("head policy 'rewind' needs the head's initial snapshot")
        load_snapshot(head_parameters(model), initial_head)
    elif policy != "keep":
        raise ValueError(f"unknown head policy {policy!r}; expected one of {HEAD_POLICIES}")
