"""Measure what a profile's fine-tuning budget buys: the full (unpruned) model's dev score per
task, for each head pooling and seed, with the profile's own data, steps and learning rate.

Usage:
  .venv/bin/python scripts/profile_budget.py --profile quick --tasks rt-sentiment \
      --poolings cls mean --seeds 0 1 2 --out docs/measurements/budget_quick.jsonl
  .venv/bin/python scripts/profile_budget.py --table docs/measurements/budget_quick.jsonl

Each row: the recipe (the profile's defaults, then its task_params, then the pooling), the
full model's metrics after one fine-tuning (the baselines experiment's "full" method) and the
seconds it took. Rows are appended one JSON object per line, so a killed run loses only the
cell in progress and a re-run skips cells already measured.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

from ticketlib import experiments as ex
from ticketlib.params import Recipe, load_profile


def recipe_for(profile, task: str, pooling: str | None) -> Recipe:
    names = set(Recipe.names())
    values = {k: v for k, v in profile.defaults.items() if k in names}
    values.update({k: v for k, v in profile.task_params.get(task, {}).items() if k in names})
    values["task"] = task
    if pooling:
        values["pooling"] = pooling
    return Recipe(**values)


def measure(recipe: Recipe, seed: int) -> dict:
    start = time.perf_counter()
    loaded = ex.load_data(recipe)
    result = ex._train_mask(loaded, None, seed)  # the "full" method of the baselines experiment
    return {"task": recipe.task, "pooling": recipe.pooling, "seed": seed, "recipe": recipe.as_dict(),
            "steps": result["steps"], "train_seconds": result["train_seconds"],
            "total_seconds": round(time.perf_counter() - start, 1), "metrics": result["metrics"],
            "matching_metric": loaded.data.matching_metric, "threads": torch.get_num_threads(),
            "torch": torch.__version__, "machine": platform.processor() or platform.machine(),
            "date": time.strftime("%Y-%m-%d %H:%M")}


def table(rows: list[dict]) -> str:
    """Markdown: mean ± std over seeds of the matching metric, per task, pooling and learning rate."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        key = (row["task"], row["pooling"], row["recipe"]["learning_rate"], row["steps"])
        groups.setdefault(key, []).append(row)
    lines = ["| task | pooling | lr | steps | seeds | dense dev score (mean ± std) | per seed | train s (mean) |",
             "|---|---|---|---|---|---|---|---|"]
    for (task, pooling, lr, steps), items in sorted(groups.items()):
        metric = items[0]["matching_metric"]
        values = [r["metrics"][metric] for r in sorted(items, key=lambda r: r["seed"])]
        spread = statistics.stdev(values) if len(values) > 1 else float("nan")
        lines.append(f"| `{task}` | {pooling} | {lr:g} | {steps} | {len(values)} | {metric} "
                     f"{statistics.mean(values):.3f} ± {spread:.3f} | {' / '.join(f'{v:.3f}' for v in values)} | "
                     f"{statistics.mean(r['train_seconds'] for r in items):.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--tasks", nargs="+", default=None, help="default: every task of the profile's find_tickets grid")
    parser.add_argument("--poolings", nargs="+", default=[None], help="cls, mean (default: the profile's)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--set", nargs="*", default=[], metavar="NAME=VALUE",
                        help="override recipe fields, e.g. learning_rate=1e-4 max_steps=64 (JSON values)")
    parser.add_argument("--out", default=None)
    parser.add_argument("--table", metavar="FILE", help="print the markdown table of a results file and exit")
    args = parser.parse_args()
    if args.table:
        rows = [json.loads(line) for line in Path(args.table).read_text().splitlines() if line.strip()]
        print(table(rows))
        return
    profile = load_profile(args.profile)
    tasks = args.tasks or profile.experiments["find_tickets"]["grid"]["task"]
    overrides = {}
    for item in args.set:
        name, _, value = item.partition("=")
        try:
            overrides[name] = json.loads(value)
        except json.JSONDecodeError:
            overrides[name] = value
    out = Path(args.out or f"docs/measurements/budget_{profile.name}.jsonl")
    done = set()
    if out.is_file():
        for line in out.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                done.add(json.dumps([row["recipe"], row["seed"]], sort_keys=True))
    out.parent.mkdir(parents=True, exist_ok=True)
    for task in tasks:
        for pooling in args.poolings:
            recipe = recipe_for(profile, task, pooling).replace(**overrides)
            for seed in args.seeds:
                key = json.dumps([recipe.as_dict(), seed], sort_keys=True)
                if key in done:
                    continue
                row = measure(recipe, seed)
                print(f"{task} pooling={row['pooling']} seed={seed}: {row['metrics']} "
                      f"({row['train_seconds']:.0f} s)", flush=True)
                with open(out, "a", encoding="utf-8") as handle:
                    handle.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
