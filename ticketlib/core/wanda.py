"""Wanda (Sun et al. 2023, "A Simple and Effective Pruning Approach for Large Language
Models"): one-shot pruning by weights and activations, no retraining, no gradients.

score[i, j] = |W[i, j]| * ||X_j||_2, where X_j is input feature j of the Linear layer over
every token of a few calibration batches (the L2 norm over batch x sequence positions).
Scores are compared *per output row*: each row i of each prunable matrix loses its
lowest-scoring weights (ties: the earlier column), floor(target * in_features) of them or
one more, so that each matrix loses exactly round(target * its size) (see `prune_per_row`)
and the mask's sparsity matches the ticket's it is compared with.

Input norms are collected with forward hooks on the prunable Linear modules while the model
runs the calibration batches in eval mode. Padding positions are left out by default
(`count_padding=False`): their hidden states are not text (Wanda's calibration data, C4
sequences, have no padding); the pooler sees one vector per sequence and counts them all.
"""

from __future__ import annotations

from typing import Callable, Iterable, Mapping, Sequence

import torch
from torch import nn

from ticketlib.core.config import PrunableSet
from ticketlib.core.masks import Mask, check_sparsity
from ticketlib.core.prunable import base_model, prunable_parameters
from ticketlib.foundations.batching import pad_collate

MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def _linear_modules(model: nn.Module, spec: PrunableSet) -> dict[str, nn.Linear]:
    keys = prunable_parameters(model, spec)
    modules = dict(base_model(model).named_modules())
    return {key: modules[key.removesuffix(".weight")] for key in keys}


@torch.no_grad()
def collect_input_norms(
    modules: Mapping[str, nn.Linear],
    forward: Callable[[Mapping[str, torch.Tensor]], None],
    batches: Iterable[Mapping[str, torch.Tensor]],
    count_padding: bool = False,
) -> dict[str, torch.Tensor]:
    """Per Linear in `modules`, the L2 norm of each input feature over every token that
    `forward(batch)` sends through it; a 3-d input (batch x tokens x features) drops the
    positions where the batch's attention_mask is 0 unless count_padding."""
    sums = {key: torch.zeros(module.in_features, dtype=torch.float64) for key, module in modules.items()}
    state: dict = {"keep": None}

    def hook(key):
        def accumulate(module, args, output):
            x = args[0].detach().to(torch.float64).cpu()
            if x.dim() == 3 and state["keep"] is not None:
                x = x[state["keep"]]  # tokens x features, padding dropped
            sums[key] += x.reshape(-1, x.shape[-1]).pow(2).sum(dim=0)

        return accumulate

    handles = [module.register_forward_hook(hook(key)) for key, module in modules.items()]
    seen = 0
    try:
        for batch in batches:
            mask = batch.get("attention_mask")
            state["keep"] = None if count_padding or mask is None else mask.bool().cpu()
            forward(batch)
            seen += 1
    finally:
        for handle in handles:
            handle.remove()
    if not seen:
        raise ValueError("Wanda needs at least one calibration batch")
    return {key: total.sqrt().to(torch.float32) for key, total in sums.items()}


@torch.no_grad()
def input_norms(
    model: nn.Module,
    batches: Iterable[Mapping[str, torch.Tensor]],
    spec: PrunableSet = PrunableSet(),
    count_padding: bool = False,
) -> dict[str, torch.Tensor]:
    """Per prunable matrix of a BERT-family model, the input-feature norms over the calibration
    batches (the model runs them in eval mode)."""
    device = next(model.parameters()).device

    def forward(batch):
        inputs = {k: v.to(device) for k, v in batch.items() if k in MODEL_INPUTS}
        if "input_ids" not in inputs:
            raise ValueError("a calibration batch needs input_ids")
        model(**inputs)

    was_training = model.training
    model.eval()
    try:
        return collect_input_norms(_linear_modules(model, spec), forward, batches, count_padding)
    finally:
        model.train(was_training)


def wanda_scores(weights: Mapping[str, torch.Tensor], norms: Mapping[str, torch.Tensor]) -> dict:
    """|W| times the input-feature norms (broadcast over rows)."""
    return {key: w.detach().abs().float().cpu() * norms[key][None, :] for key, w in weights.items()}


def prune_per_row(scores: Mapping[str, torch.Tensor], target: float) -> Mask:
    """Per output row, prune the lowest scores (ties: the earlier column). Each matrix loses
    exactly round(target * its size) weights, so the sparsity equals magnitude pruning's up to
    one weight per matrix: every row loses k = floor(n / rows), and the n - k * rows rows whose
    (k+1)-th lowest score is smallest (ties: the earlier row) lose one more."""
    check_sparsity(target)
    mask = {}
    for key, score in scores.items():
        rows = score.shape[0]
        n_prune = round(target * score.numel())
        k, extra = divmod(n_prune, rows)
        ranked, order = torch.sort(score, dim=1, stable=True)
        keep = torch.ones_like(score, dtype=torch.bool)
        keep.scatter_(1, order[:, :k], False)
        if extra:
            chosen = torch.sort(ranked[:, k], stable=True).indices[:extra]
            keep[chosen, order[chosen, k]] = False
        mask[key] = keep
    return mask


def calibration_batches(
    features: Sequence[dict], batch_size: int = 32, pad_token_id: int = 0, max_batches: int | None = 4
) -> list[dict[str, torch.Tensor]]:
    """The first `max_batches` batches of `features` (in order), padded per batch."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    chunks = [features[i : i + batch_size] for i in range(0, len(features), batch_size)][:max_batches]
    return [pad_collate([{k: f[k] for k in MODEL_INPUTS if k in f} for f in chunk], pad_token_id) for chunk in chunks]


def wanda_mask(
    model: nn.Module,
    batches: Iterable[Mapping[str, torch.Tensor]],
    target: float,
    spec: PrunableSet = PrunableSet(),
    count_padding: bool = False,
) -> Mask:
    """The Wanda mask of `model` (theta_0 for the baseline) at sparsity `target`."""
    check_sparsity(target)
    norms = input_norms(model, batches, spec, count_padding)
    return prune_per_row(wanda_scores(prunable_parameters(model, spec), norms), target)
