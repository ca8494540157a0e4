"""Measure the dense (unpruned) dev score of a model on tasks under a small budget, for docs/tasks.md.

Usage: .venv/bin/python scripts/dense_dev_scores.py [--tasks rt-sentiment cola ...] [--out FILE]
Each task: load_model(model, task, seed) -> load_task_data(source, subsets) -> fine_tune (1 epoch,
lr 5e-5, bs 32, length-grouped) -> evaluate. Results are appended one JSON object per line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import warnings
from pathlib import Path

import torch

from ticketlib.data import load_task_data
from ticketlib.models import OFFLINE_MODEL, load_model
from ticketlib.train import TrainConfig, fine_tune

GLUE_DIR = os.environ.get("TICKETLIB_GLUE_DIR", str(Path(__file__).resolve().parents[2] / "shared/data/glue"))

# task: (source, max_length, max_train_examples, max_eval_examples)
PLAN = {
    "rt-sentiment": ("offline", 64, 2000, None),
    "rt-sentiment-score": ("offline", 64, 2000, None),
    "squad-qnli": ("offline", 64, 2000, 2000),
    "wiki-mlm": ("offline", 64, 2000, 200),
    "squad": ("offline", 128, 2000, 500),
    "cola": ("glue_dir", 64, 2000, None),
    "sst2": ("glue_dir", 64, 2000, None),
    "mrpc": ("glue_dir", 64, 2000, None),
    "stsb": ("glue_dir", 64, 2000, None),
}


def measure(task: str, model_name: str, seed: int) -> dict:
    source, max_length, max_train, max_eval = PLAN[task]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model, tokenizer, model_info = load_model(model_name, task, seed=seed)
    data = load_task_data(task, source, tokenizer, max_train_examples=max_train, max_eval_examples=max_eval,
                          subset_seed=seed, glue_dir=GLUE_DIR, max_length=max_length)
    before = data.evaluate(model) if data.task.head == "mlm" else None
    config = TrainConfig(learning_rate=5e-5, epochs=1, batch_size=32, seed=seed, device="cpu", progress=False)
    start = time.perf_counter()
    result = fine_tune(model, data.train_features, config, evaluate=data.evaluate, pad_token_id=data.pad_token_id)
    return {"task": task, "source": source, "model": model_name, "seed": seed, "max_length": max_length,
            "train_examples": data.info["splits"]["train"], "eval": {k: v for k, v in data.info["splits"].items()
                                                                     if k != "train"},
            "steps": result.steps, "train_seconds": round(result.seconds, 1),
            "total_seconds": round(time.perf_counter() - start, 1), "metrics": result.metrics,
            "before_fine_tune": before, "matching_metric": data.matching_metric,
            "model_warnings": model_info["warnings"], "torch": torch.__version__, "threads": torch.get_num_threads(),
            "machine": platform.machine()}


def table(rows: list[dict]) -> str:
    """A markdown table of measured rows (the last row per task wins)."""
    latest = {row["task"]: row for row in rows}
    lines = ["| task | source | train examples (steps) | dev examples | dense dev score | train s |",
             "|---|---|---|---|---|---|"]
    for task, row in latest.items():
        metrics = row["metrics"]
        shown = [f"**{row['matching_metric']} {metrics[row['matching_metric']]:.3f}**"]
        shown += [f"{k} {v:.3f}" if k != "perplexity" else f"{k} {v:.1f}"
                  for k, v in metrics.items() if k not in (row["matching_metric"], "loss")]
        if row.get("before_fine_tune"):
            before = row["before_fine_tune"]
            shown.append(f"(before fine-tuning: {row['matching_metric']} {before[row['matching_metric']]:.3f}, "
                         f"perplexity {before['perplexity']:.0f})")
        dev = ", ".join(f"{v.get('examples_used', v.get('blocks_used'))}" + (f" {k}" if k != "dev" else "")
                        for k, v in row["eval"].items())
        train = row["train_examples"].get("examples_used", row["train_examples"].get("blocks_used"))
        unit = " blocks" if "blocks_used" in row["train_examples"] else ""
        lines.append(f"| `{task}` | {row['source']} | {train}{unit} ({row['steps']}) | {dev}{unit} | "
                     f"{', '.join(shown)} | {row['train_seconds']:.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=list(PLAN), choices=list(PLAN))
    parser.add_argument("--model", default=OFFLINE_MODEL)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="docs/measurements/dense_dev_scores.jsonl")
    parser.add_argument("--table", action="store_true", help="print a markdown table of --out and exit")
    args = parser.parse_args()
    out = Path(args.out)
    if args.table:
        print(table([json.loads(line) for line in out.read_text(encoding="utf-8").splitlines() if line.strip()]))
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    for task in args.tasks:
        row = measure(task, args.model, args.seed)
        print(json.dumps(row), flush=True)
        with open(out, "a", encoding="utf-8") as handle:  # one line per finished task: a crash loses only the current one
            handle.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
