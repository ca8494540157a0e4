"""Fine-tuning: the paper's recipe as one loop, masked or dense, deterministic on CPU.

AdamW (eps 1e-8, weight decay 0 by default, never on biases and LayerNorm; torch's fused
kernel unless `adamw_impl` says otherwise), linear decay
with optional warmup, gradient clipping at 1.0, epochs or a step budget, dynamic padding
with length-grouped batches, CUDA with bf16 autocast when present, and a seeded run:
the same config and seed give the same weights bit for bit on CPU.
"""

from __future__ import annotations

import inspect
import time
import warnings
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import torch
from torch import nn

with warnings.catch_warnings():  # tqdm.auto warns at import in a kernel without ipywidgets; bars are off there
    warnings.filterwarnings("ignore", message="IProgress not found")
    from tqdm.auto import tqdm

from ticketlib.core.config import TrainConfig
from ticketlib.core.masker import Masker
from ticketlib.foundations.batching import Batches


@dataclass
class TrainResult:
    steps: int
    seconds: float
    losses: list[float] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)  # periodic evaluations


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def autocast_dtype(device: torch.device, precision: str) -> torch.dtype | None:
    """The autocast dtype for this device, or None for plain fp32."""
    if precision == "fp32" or (precision == "auto" and device.type != "cuda"):
        return None
    if precision == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return {"bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    """AdamW with the usual BERT grouping: no weight decay on biases and LayerNorm."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if param.requires_grad:
            (no_decay if name.endswith("bias") or "LayerNorm" in name else decay).append(param)
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(
        groups,
        lr=config.learning_rate,
        eps=config.adam_eps,
        betas=config.adam_betas,
        fused=True if config.adamw_impl == "fused" else None,
    )


def linear_schedule(optimizer, warmup: int, total: int, offset: int = 0) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warmup then linear decay to 0 at `total`; `offset` starts part-way (whole-run horizon)."""

    def factor(step: int) -> float:
        step += offset
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _forward_keys(model: nn.Module) -> set[str]:
    return set(inspect.signature(model.forward).parameters)


def fine_tune(
    model: nn.Module,
    train_features: Sequence[dict],
    config: TrainConfig,
    *,
    masker: Masker | None = None,
    evaluate: Callable[[nn.Module], dict[str, float]] | None = None,
    on_step: Callable[[int, nn.Module], bool | None] | None = None,
    horizon: tuple[int, int] | None = None,
    pad_token_id: int = 0,
) -> TrainResult:
    """Fine-tune `model` in place; pruned weights (per `masker`) stay exactly zero throughout.

    evaluate: called with the model at the end (and every `config.eval_every` steps); its dict
        becomes `TrainResult.metrics`.
    on_step: called after every optimizer step with (step, model), e.g. to snapshot theta_i
        or prune during training; a true return value stops training there (early-bird tickets),
        `TrainResult.steps` then counts the steps taken and `evaluate` still runs.
    horizon: (offset, total) steps of a whole-run learning-rate schedule (schedule_horizon="run").
    """
    device = resolve_device(config.device)
    model.to(device)
    torch.manual_seed(config.seed)  # dropout
    batches = Batches(
        train_features,
        config.batch_size,
        shuffle=True,
        seed=config.seed,
        group_by_length=config.group_by_length,
        pad_token_id=pad_token_id,
    )
    total = config.steps(len(train_features))
    offset, horizon_total = horizon if config.schedule_horizon == "run" and horizon else (0, total)
    optimizer = make_optimizer(model, config)
    scheduler = linear_schedule(optimizer, config.warmup_steps, horizon_total, offset)
    hook = None
    if masker is not None:
        masker.apply()
        hook = masker.attach(optimizer)
    amp = autocast_dtype(device, config.precision)
    accepted = _forward_keys(model)
    result = TrainResult(steps=0, seconds=0.0)
    start = time.perf_counter()
    bar = tqdm(total=total, desc="fine-tune", disable=not config.progress, leave=False)
    model.train()
    stop = False
    try:
        while result.steps < total and not stop:
            for _, batch in batches:
                batch = {k: v.to(device, non_blocking=True) for k, v in batch.items() if k in accepted}
                with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
                    loss = model(**batch).loss
                loss.backward()  # the masker's hooks zero pruned weights' gradients here
                if config.max_grad_norm:
                    nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                result.steps += 1
                result.losses.append(loss.item())
                bar.update(1)
                bar.set_postfix(loss=f"{result.losses[-1]:.4f}", refresh=False)
                stop = bool(on_step(result.steps, model)) if on_step is not None else False
                if stop or result.steps >= total:
                    break
                if evaluate and config.eval_every and result.steps % config.eval_every == 0:
                    result.history.append({"step": result.steps, **evaluate(model)})
                    model.train()
            batches.epoch += 1
    finally:
        bar.close()
        if hook is not None:
            hook.remove()
    result.seconds = time.perf_counter() - start
    model.eval()
    if evaluate is not None:
        result.metrics = evaluate(model)
        result.history.append({"step": result.steps, **result.metrics})
    return result


def gradient_totals(
    model: nn.Module,
    train_features: Sequence[dict],
    config: TrainConfig,
    parameters: Mapping[str, nn.Parameter],
    batches: int,
    pad_token_id: int = 0,
) -> dict[str, torch.Tensor]:
    """Per entry of `parameters`, the sum over `batches` training batches (at most; fewer when the
    data hold fewer) of |d loss / d weight|, as float32 on the CPU: what the Taylor unit score
    needs (ticketlib.core.unit_scores). The batches are the first ones fine_tune draws with this config
    (its seed, batch size and length grouping), the model runs in eval mode (no dropout, so no
    random draws: a call during training leaves the run as it was) and its gradients are cleared
    before and after; its weights are unchanged."""
    if batches < 1:
        raise ValueError(f"the gradients need at least one batch, got {batches!r}")
    device = resolve_device(config.device)
    model.to(device)
    amp = autocast_dtype(device, config.precision)
    accepted = _forward_keys(model)
    totals = {key: torch.zeros(p.shape, dtype=torch.float32, device=p.device) for key, p in parameters.items()}
    was_training = model.training
    model.eval()
    model.zero_grad(set_to_none=True)
    data = Batches(
        train_features,
        config.batch_size,
        shuffle=True,
        seed=config.seed,
        group_by_length=config.group_by_length,
        pad_token_id=pad_token_id,
    )
    try:
        for seen, (_, batch) in enumerate(data):
            if seen == batches:
                break
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items() if k in accepted}
            with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
                loss = model(**batch).loss
            loss.backward()
            for key, p in parameters.items():
                if p.grad is not None:
                    totals[key] += p.grad.detach().abs().float()
            model.zero_grad(set_to_none=True)
    finally:
        model.zero_grad(set_to_none=True)
        model.train(was_training)
    return {key: total.cpu() for key, total in totals.items()}
