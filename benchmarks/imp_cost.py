"""The cost of one IMP level against one plain fine-tuning run, and how it grows with
training-set size and model depth.

Part 1 (one process, same model, data and recipe): a plain `fine_tune` of the dense model vs
`run_imp` with one pruning level (level 0 dense + level 1 at --sparsity), timed end to end.
IMP's overhead per level = (run_imp wall - its fine-tuning loops) / levels: rewinding,
head re-initialisation, pruning, sparsity report and saving masks/JSON. Each of those steps
is also timed on its own (median of 5).

Part 2: seconds per training step of the masked loop at 2, 4 and 6 layers (interleaved
rounds on the same length-grouped batches), times the steps of one epoch at 1k, 2k and 4k
examples (batch 32) gives the predicted cost of one level (1 epoch; the paper's GLUE recipe
is 3 epochs per level); the 2-layer row (or every row, --full) is also measured end to end.
Dev-set evaluation is left out of both sides (it costs the same with or without IMP).

    .venv/bin/python benchmarks/imp_cost.py [--examples 1000] [--num-layers 6] [--full]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import statistics
import tempfile
import time

import torch

from ticketlib.core.config import IMPConfig, PrunableSet, PruneConfig, TrainConfig
from ticketlib.core.imp import run_imp
from ticketlib.core.mask_io import save_mask
from ticketlib.core.masker import Masker
from ticketlib.core.masks import magnitude_prune, sparsity_report
from ticketlib.core.prunable import prunable_state
from ticketlib.core.rewind import base_snapshot, reinit_head, rewind
from ticketlib.core.train import fine_tune
from ticketlib.tasks.data import load_task_data
from ticketlib.tasks.models import OFFLINE_MODEL, load_model

SPEC = PrunableSet(include_pooler=False)


def timed(fn, repeats=5):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return round(statistics.median(times), 4)


def part1(args, tokenizer_data):
    model, tokenizer, _ = load_model(OFFLINE_MODEL, "rt-sentiment", num_layers=args.num_layers, seed=0)
    data = tokenizer_data(tokenizer, args.examples)
    train = TrainConfig(learning_rate=5e-5, epochs=1.0, seed=0, progress=False)
    theta0 = base_snapshot(model)
    start = time.perf_counter()
    plain = fine_tune(model, data.train_features, train, pad_token_id=data.pad_token_id)
    plain_wall = time.perf_counter() - start
    rewind(model, theta0)
    config = IMPConfig(prune=PruneConfig(levels=1, rate=args.sparsity, include_pooler=False), train=train)
    with tempfile.TemporaryDirectory() as run_dir:
        start = time.perf_counter()
        rows = run_imp(
            model,
            data.train_features,
            None,
            config,
            run_dir,
            metadata={"task": "rt-sentiment"},
            pad_token_id=data.pad_token_id,
        )
        imp_wall = time.perf_counter() - start
        mask_bytes = os.path.getsize(os.path.join(run_dir, "level_01", "mask.safetensors"))
    loops = sum(r["train_seconds"] for r in rows)
    overhead = (imp_wall - loops) / len(rows)
    mask = magnitude_prune(prunable_state(model, SPEC), args.sparsity)
    with tempfile.TemporaryDirectory() as tmp:
        components = {
            "base_snapshot": timed(lambda: base_snapshot(model)),
            "rewind_to_theta0": timed(lambda: rewind(model, theta0)),
            "reinit_head": timed(lambda: reinit_head(model, 1)),
            "global_magnitude_prune": timed(lambda: magnitude_prune(prunable_state(model, SPEC), args.sparsity)),
            "apply_mask": timed(lambda: Masker(model, mask, SPEC).apply()),
            "sparsity_report": timed(lambda: sparsity_report(mask, warn=False)),
            "save_mask_file": timed(lambda: save_mask(os.path.join(tmp, "m.safetensors"), mask, level=1)),
        }
    return {
        "num_layers": args.num_layers,
        "examples": len(data.train_features),
        "steps_per_run": plain.steps,
        "plain_fine_tune_wall_s": round(plain_wall, 2),
        "plain_loop_s": round(plain.seconds, 2),
        "imp_levels_run": len(rows),
        "imp_wall_s": round(imp_wall, 2),
        "imp_loops_s": [r["train_seconds"] for r in rows],
        "imp_wall_per_level_s": round(imp_wall / len(rows), 2),
        "imp_level_over_plain_run": round(imp_wall / len(rows) / plain_wall, 3),
        "imp_overhead_per_level_s": round(overhead, 3),
        "imp_overhead_share_of_plain_run": round(overhead / plain_wall, 4),
        "components_s_median": components,
        "mask_file_bytes": mask_bytes,
    }


def step_seconds(model, masker, features, pad, steps, seed):
    marks = []
    config = TrainConfig(learning_rate=5e-5, max_steps=steps + 1, seed=seed, progress=False)
    fine_tune(
        model, features, config, masker=masker, on_step=lambda *_: marks.append(time.perf_counter()), pad_token_id=pad
    )
    return [b - a for a, b in zip(marks, marks[1:])]


def part2(args, tokenizer_data):
    depths, sizes = (2, 4, 6), (1000, 2000, 4000)
    models = {}
    for depth in depths:
        model, tokenizer, _ = load_model(OFFLINE_MODEL, "rt-sentiment", num_layers=depth, seed=0)
        mask = magnitude_prune(prunable_state(model, SPEC), args.sparsity)
        models[depth] = (model, Masker(model, mask, SPEC))
    data = {n: tokenizer_data(tokenizer, n) for n in sizes}
    per_step = {d: [] for d in depths}
    order = list(models)
    for round_ in range(args.rounds):
        random.Random(round_).shuffle(order)
        for depth in order:
            model, masker = models[depth]
            per_step[depth] += step_seconds(
                model, masker, data[4000].train_features, data[4000].pad_token_id, args.steps, round_
            )
    median = {d: statistics.median(v) for d, v in per_step.items()}
    table = []
    for depth in depths:
        for n in sizes:
            steps = math.ceil(n / 32)
            row = {
                "num_layers": depth,
                "examples": n,
                "steps_per_level": steps,
                "s_per_step_median": round(median[depth], 4),
                "predicted_level_s": round(steps * median[depth], 1),
            }
            if args.full or depth == min(depths):
                model, masker = models[depth]
                start = time.perf_counter()
                fine_tune(
                    model,
                    data[n].train_features,
                    TrainConfig(learning_rate=5e-5, epochs=1.0, progress=False),
                    masker=masker,
                    pad_token_id=data[n].pad_token_id,
                )
                row["measured_level_s"] = round(time.perf_counter() - start, 1)
            table.append(row)
    return table


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--examples", type=int, default=1000, help="part 1 training examples (1 epoch, batch 32)")
    p.add_argument("--num-layers", type=int, default=6, help="part 1 depth")
    p.add_argument("--sparsity", type=float, default=0.5)
    p.add_argument("--rounds", type=int, default=8, help="part 2 interleaved rounds (shuffled order)")
    p.add_argument("--steps", type=int, default=2, help="part 2 timed steps per depth per round")
    p.add_argument("--full", action="store_true", help="measure every cell of part 2 end to end")
    p.add_argument("--skip", choices=["part1", "part2"], default=None)
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    cache = {}

    def tokenizer_data(tokenizer, n):
        if n not in cache:
            cache[n] = load_task_data(
                "rt-sentiment", "offline", tokenizer, max_train_examples=n, max_eval_examples=16, max_length=128
            )
        return cache[n]

    result = {
        "benchmark": "imp_cost",
        "model": OFFLINE_MODEL,
        "task": "rt-sentiment",
        "batch_size": 32,
        "sparsity": args.sparsity,
        "loadavg_before": os.getloadavg(),
    }
    if args.skip != "part1":
        result["one_level_vs_plain"] = part1(args, tokenizer_data)
    if args.skip != "part2":
        result["growth_one_epoch_per_level"] = part2(args, tokenizer_data)
    result.update(
        loadavg_after=os.getloadavg(),
        torch=torch.__version__,
        threads=torch.get_num_threads(),
        machine=platform.machine(),
        cpu_count=os.cpu_count(),
        date=time.strftime("%Y-%m-%d %H:%M"),
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
