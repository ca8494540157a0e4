"""What a fine-tuning budget buys: for a task, a grid of budgets (steps x batch size, learning
rate) and seeds, one dense fine-tuning each (the baselines' "full" method), measured by

  dev_score       the task's matching metric on its dev set after fine-tuning;
  movement        ||theta - theta_0|| / ||theta_0|| over the prunable set (the weights IMP ranks);
  jaccard_theta0  Jaccard overlap of the pruned sets of the trained weights' global magnitude
                  mask and theta_0's, both at `sparsity` (default 50%): how far fine-tuning moves
                  the ticket IMP would find from one-shot magnitude pruning of theta_0;
  train_seconds   the fine-tuning's wall time (total_seconds: with loading and evaluation).

A budget of 0 steps measures theta_0 with its fresh head (movement 0, overlap 1): the untrained
score. Each budget's data is one epoch of steps x batch size training examples (the cpu
profile's convention) unless the recipe caps it otherwise (`epoch_data=False`).

Rows go to a JSONL file, one line per finished cell (a killed probe loses only the cell in
progress; a re-run skips cells already measured), and the same rows to a tidy CSV beside it.
The command line is `ticketlib budget` (ticketlib.cli.main).
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import pandas as pd
import torch
from torch import nn

from ticketlib.core.config import PrunableSet, TrainConfig
from ticketlib.core.masks import full_mask, magnitude_prune, masks_overlap
from ticketlib.core.prunable import prunable_state
from ticketlib.foundations.atomic import atomic_path
from ticketlib.tasks.params import Recipe

SPARSITY = 0.5  # the mask compared with theta_0's: the paper's 50% global magnitude mask
CSV_COLUMNS = [
    "task",
    "model",
    "pooling",
    "steps",
    "batch_size",
    "learning_rate",
    "seed",
    "train_examples",
    "metric",
    "dev_score",
    "movement",
    "jaccard_theta0",
    "sparsity",
    "train_seconds",
    "total_seconds",
    "threads",
    "machine",
    "date",
]


@dataclass(frozen=True)
class Budget:
    steps: int
    batch_size: int
    learning_rate: float

    @classmethod
    def parse(cls, text: str, learning_rate: float) -> "Budget":
        """ "48x32" -> 48 steps of 32 (at `learning_rate`)."""
        steps, sep, batch = text.lower().partition("x")
        try:
            budget = cls(int(steps), int(batch), float(learning_rate))
        except ValueError:
            raise ValueError(f"budget {text!r}: expected STEPSxBATCH, e.g. 48x32") from None
        if budget.steps < 0 or budget.batch_size < 1:
            raise ValueError(f"budget {text!r}: steps must be >= 0 and batch size >= 1")
        return budget


def relative_movement(before: dict[str, torch.Tensor], after: dict[str, torch.Tensor]) -> float:
    """||after - before|| / ||before||, over all the tensors together (one vector)."""
    moved = sum(float((after[k].double() - before[k].double()).pow(2).sum()) for k in before)
    norm = sum(float(before[k].double().pow(2).sum()) for k in before)
    return (moved / norm) ** 0.5


def probe_model(
    model: nn.Module,
    train_features: Sequence[dict],
    evaluate: Callable[[nn.Module], dict],
    train: TrainConfig | None,
    spec: PrunableSet = PrunableSet(),
    sparsity: float = SPARSITY,
    scope: str = "global",
    pad_token_id: int = 0,
) -> dict:
    """Fine-tune `model` (theta_0) densely as the baselines' "full" method does (train None: not
    at all) and measure it; the model is trained in place."""
    from ticketlib.core.imp import evaluate_ticket

    theta0 = prunable_state(model, spec)
    if train is None:
        started = time.perf_counter()
        model.eval()
        result = {"steps": 0, "metrics": evaluate(model), "train_seconds": 0.0}
    else:
        started = time.perf_counter()
        result = evaluate_ticket(
            model, full_mask(theta0), train_features, evaluate, train, spec=spec, pad_token_id=pad_token_id
        )
    trained = prunable_state(model, spec)
    overlap = masks_overlap(
        magnitude_prune(trained, sparsity, scope=scope), magnitude_prune(theta0, sparsity, scope=scope)
    )
    return {
        "steps": result["steps"],
        "metrics": result["metrics"],
        "movement": relative_movement(theta0, trained),
        "jaccard_theta0": overlap,
        "sparsity": sparsity,
        "train_seconds": round(result["train_seconds"], 3),
        "seconds": round(time.perf_counter() - started, 3),
    }


def profile_recipe(profile: str, task: str, overrides: dict | None = None) -> Recipe:
    """A profile's recipe for `task` (its defaults, then its task_params), then `overrides`."""
    from ticketlib.study.profiles import load_profile

    loaded = load_profile(profile)
    merged = {**loaded.defaults, **loaded.task_params.get(task, {}), "task": task}
    return Recipe.from_namespace(merged, **(merged.get("recipe_extra") or {})).replace(**(overrides or {}))


def budget_recipe(recipe: Recipe, budget: Budget, epoch_data: bool = True) -> Recipe:
    """The recipe at this budget; with `epoch_data`, one epoch of steps x batch size examples."""
    values = {"max_steps": budget.steps or None, "batch_size": budget.batch_size, "learning_rate": budget.learning_rate}
    if epoch_data and budget.steps:
        values["max_train_examples"] = budget.steps * budget.batch_size
    return recipe.replace(**values)


def measure(recipe: Recipe, budget: Budget, seed: int, epoch_data: bool = True, sparsity: float = SPARSITY) -> dict:
    """One cell: the recipe's task at this budget and seed (a flat row; `recipe`: the one used)."""
    from ticketlib.tasks.run_inputs import evaluator, fresh_model, load_data

    started = time.perf_counter()
    recipe = budget_recipe(recipe, budget, epoch_data)
    loaded = load_data(recipe)
    model, _ = fresh_model(recipe, seed=seed)
    spec = recipe.prune_config().spec()
    train = recipe.train_config(seed) if budget.steps else None
    probe = probe_model(
        model,
        loaded.data.train_features,
        evaluator(loaded),
        train,
        spec,
        sparsity,
        recipe.scope,
        loaded.data.pad_token_id,
    )
    metric = loaded.data.matching_metric
    return {
        "task": recipe.task,
        "model": recipe.model,
        "pooling": recipe.pooling,
        "steps": probe["steps"],
        "batch_size": budget.batch_size,
        "learning_rate": budget.learning_rate,
        "seed": seed,
        "train_examples": len(loaded.data.train_features),
        "metric": metric,
        "dev_score": probe["metrics"][metric],
        "movement": probe["movement"],
        "jaccard_theta0": probe["jaccard_theta0"],
        "sparsity": sparsity,
        "train_seconds": probe["train_seconds"],
        "total_seconds": round(time.perf_counter() - started, 1),
        "threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "metrics": probe["metrics"],
        "recipe": recipe.as_dict(),
    }


def _key(recipe: dict, seed: int) -> str:
    kept = {k: v for k, v in recipe.items() if k not in ("threads", "device")}
    return json.dumps([kept, seed], sort_keys=True)


def read_rows(path: str | Path) -> list[dict]:
    path = Path(path)
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def run_probe(
    recipe: Recipe,
    budgets: Sequence[Budget],
    seeds: Sequence[int],
    out: str | Path,
    epoch_data: bool = True,
    sparsity: float = SPARSITY,
    log=print,
) -> pd.DataFrame:
    """Every (budget, seed) cell not in `out` yet (a .jsonl file), appended as it finishes; the
    whole file's rows as a tidy CSV beside it (same name, .csv). Returns the CSV's table."""
    out = Path(out)
    if out.suffix != ".jsonl":
        raise ValueError(f"--out {out}: expected a .jsonl file (the CSV is written beside it)")
    for budget in budgets:  # every recipe checked before anything runs
        budget_recipe(recipe, budget, epoch_data)
    done = {_key(r["recipe"], r["seed"]) for r in read_rows(out)}
    out.parent.mkdir(parents=True, exist_ok=True)
    for budget in budgets:
        for seed in seeds:
            if _key(budget_recipe(recipe, budget, epoch_data).as_dict(), seed) in done:
                continue
            row = measure(recipe, budget, seed, epoch_data, sparsity)
            log(
                f"{row['task']} {budget.steps}x{budget.batch_size} lr {budget.learning_rate:g} seed {seed}: "
                f"{row['metric']} {row['dev_score']:.3f}, movement {row['movement']:.4f}, "
                f"Jaccard with theta_0 {row['jaccard_theta0']:.4f}, {row['train_seconds']:.0f} s"
            )
            with open(out, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(row) + "\n")
    table = tidy(read_rows(out))
    with atomic_path(out.with_suffix(".csv")) as tmp:
        table.to_csv(tmp, index=False)
    return table


def tidy(rows: Sequence[dict]) -> pd.DataFrame:
    return pd.DataFrame([{c: r.get(c) for c in CSV_COLUMNS} for r in rows], columns=CSV_COLUMNS)


def markdown(table: pd.DataFrame) -> str:
    """Mean ± std over seeds per task and budget, as a markdown table."""
    lines = [
        "| task | steps x batch, lr | seeds | dev score | Jaccard with theta_0's mask | relative weight "
        "movement | train s (mean) |",
        "|---|---|---|---|---|---|---|",
    ]
    keys = ["task", "steps", "batch_size", "learning_rate", "metric"]
    for (task, steps, batch, lr, metric), part in table.groupby(keys, sort=False):

        def cell(column, digits=3):
            values = part[column]
            spread = f" ± {values.std():.{digits}f}" if len(values) > 1 else ""
            return f"{values.mean():.{digits}f}{spread}"

        lines.append(
            f"| {task} | {steps} x {batch}, {lr:g} | {len(part)} | {metric} {cell('dev_score')} | "
            f"{cell('jaccard_theta0')} | {cell('movement')} | {part['train_seconds'].mean():.0f} |"
        )
    return "\n".join(lines)
