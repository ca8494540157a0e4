"""Seconds per training step: ticketlib masked vs dense vs torch.nn.utils.prune, one run.

Same model (the offline pre-trained MiniLM-L6), same data (the offline sentiment task,
length-grouped batches), same optimizer and clipping; the three variants are interleaved
round by round so that machine noise hits them alike. Reports medians and ratios.

    .venv/bin/python benchmarks/masked_training.py [--steps 30] [--rounds 3] [--sparsity 0.5]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import torch
from torch.nn.utils import prune

from ticketlib.batching import Batches
from ticketlib.data import load_task_data
from ticketlib.masking import Masker
from ticketlib.masks import magnitude_prune
from ticketlib.models import OFFLINE_MODEL, load_model
from ticketlib.prunable import prunable_parameters, prunable_state
from ticketlib.train import make_optimizer, TrainConfig


def make_variant(kind: str, sparsity: float):
    """A fresh model and one `step(batch)` closure for dense, masked or prune re-parametrised training."""
    model, _, _ = load_model(OFFLINE_MODEL, "rt-sentiment")
    model.train()
    mask = magnitude_prune(prunable_state(model), sparsity)
    masker = None
    if kind == "masked":
        masker = Masker(model, mask)
        masker.apply()
    elif kind == "torch_prune":
        modules = dict(model.base_model.named_modules())
        for key, m in mask.items():
            prune.custom_from_mask(modules[key.rpartition(".")[0]], "weight", m)
    optimizer = make_optimizer(model, TrainConfig())
    if masker is not None:
        masker.attach(optimizer)

    def step(batch):
        loss = model(**batch).loss
        loss.backward()
        if masker is not None:
            masker.mask_grads()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30, help="timed steps per variant per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sparsity", type=float, default=0.5)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()

    torch.manual_seed(0)
    reference, tokenizer, _ = load_model(OFFLINE_MODEL, "rt-sentiment")
    prunable = sum(p.numel() for p in prunable_parameters(reference).values())
    data = load_task_data("rt-sentiment", "offline", tokenizer, max_length=128)
    batches = [b for _, b in Batches(data.train_features, args.batch_size, shuffle=True, seed=0)]
    kinds = ("dense", "masked", "torch_prune")
    steps = {k: make_variant(k, args.sparsity) for k in kinds}
    times = {k: [] for k in kinds}
    for kind in kinds:  # warm-up
        for batch in batches[:3]:
            steps[kind](batch)
    for round_ in range(args.rounds):
        for kind in kinds:
            for i in range(args.steps):
                batch = batches[(round_ * args.steps + i) % len(batches)]
                start = time.perf_counter()
                steps[kind](batch)
                times[kind].append(time.perf_counter() - start)
    median = {k: statistics.median(v) for k, v in times.items()}
    result = {
        "benchmark": "masked_training", "model": OFFLINE_MODEL, "task": "rt-sentiment",
        "sparsity": args.sparsity, "batch_size": args.batch_size, "steps_per_variant": len(times["dense"]),
        "mean_tokens_per_batch": statistics.mean(b["input_ids"].shape[1] for b in batches),
        "seconds_per_step_median": median,
        "masked_over_dense": median["masked"] / median["dense"],
        "torch_prune_over_dense": median["torch_prune"] / median["dense"],
        "torch": torch.__version__, "threads": torch.get_num_threads(), "machine": platform.machine(),
        "prunable_weights": prunable,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
