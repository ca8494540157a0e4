"""Measure squad-retrieval on the offline model: untrained (step 0) and after a short fine-tuning, for docs/tasks.md.

Usage: .venv/bin/python scripts/retrieval_dense.py [--seeds 0 1 2] [--steps 100] [--lr 1e-4] [--out FILE]
Per seed: load_model(offline-minilm, squad-retrieval) -> load_task_data(offline, max_train_examples =
steps x batch, subset_seed = seed; the full 500-pair dev pool) -> evaluate (step 0) -> fine_tune (AdamW,
linear decay, no warmup, batch 32, length-grouped) -> evaluate. One JSON object per line is appended to --out.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import time
from pathlib import Path

import torch

from ticketlib.data import load_task_data
from ticketlib.models import OFFLINE_MODEL, load_model
from ticketlib.train import TrainConfig, fine_tune

TASK = "squad-retrieval"


def measure(seed: int, steps: int, learning_rate: float, batch_size: int, max_length: int) -> dict:
    model, tokenizer, _ = load_model(OFFLINE_MODEL, TASK, seed=seed)
    data = load_task_data(TASK, "offline", tokenizer, max_train_examples=steps * batch_size, subset_seed=seed,
                          max_length=max_length)
    start = time.perf_counter()
    before = data.evaluate(model)
    eval_seconds = time.perf_counter() - start
    config = TrainConfig(learning_rate=learning_rate, max_steps=steps, batch_size=batch_size, seed=seed,
                         device="cpu", progress=False)
    result = fine_tune(model, data.train_features, config, evaluate=data.evaluate, pad_token_id=data.pad_token_id)
    return {"task": TASK, "model": OFFLINE_MODEL, "seed": seed, "steps": result.steps, "batch_size": batch_size,
            "learning_rate": learning_rate, "max_length": max_length, "splits": data.info["splits"],
            "no_signal": data.no_signal(), "step_0": before, "trained": result.metrics,
            "first_losses": result.losses[:5], "last_losses": result.losses[-5:],
            "train_seconds": round(result.seconds, 1), "eval_seconds": round(eval_seconds, 1),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "torch": torch.__version__, "threads": torch.get_num_threads(), "machine": platform.machine()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--out", default="docs/measurements/squad_retrieval.jsonl")
    args = parser.parse_args()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for seed in args.seeds:
        row = measure(seed, args.steps, args.lr, args.batch_size, args.max_length)
        print(json.dumps(row), flush=True)
        with open(out, "a", encoding="utf-8") as handle:  # one line per finished seed
            handle.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
