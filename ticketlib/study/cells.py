"""The values of each cell of the study's tidy rows, per seed: which rows count for IMP, the
full model and the other methods, and their mean, std and seeds (`seed_stats`). The tables
built on them: ticketlib.study.tables.

Which values count
  Only each task's matching metric (tasks.Task.matching_metric). A cell is a (task, method,
  source task, level) with one value per seed (duplicates of a seed are averaged).
  - IMP at a level: the rows of one experiment (rewind step 0; the rewinding experiment is
    left out): the one with the most seeds; on a tie the dedicated evaluation ("baselines")
    wins over the IMP search ("find_tickets").
  - The full model: method "full" rows, else IMP level 0 (the search's unpruned training);
    the source with more seeds wins, "full" on a tie.
  - Every other method (random_pruning, random_reinit, omp, standard_pruning, transfer): all
    its rows at that level.
"""

from __future__ import annotations

import math
from typing import Mapping

import numpy as np
import pandas as pd

from ticketlib.tickets.results import NO_SIGNAL

SPARSITY_TOLERANCE = 0.005  # a level's measured sparsity may sit a hair under its nominal value
NO_SIGNAL_METHOD = NO_SIGNAL
SEARCH_EXPERIMENT, EVAL_EXPERIMENT, REWINDING_EXPERIMENT = "find_tickets", "baselines", "rewinding"

NEEDED_COLUMNS = (
    "experiment",
    "method",
    "task",
    "source_task",
    "seed",
    "level",
    "sparsity",
    "rewind_step",
    "metric",
    "value",
)


# --- the values of each cell ----------------------------------------------------------------


def main_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows of each task's matching metric (no-signal rows included), checked."""
    from ticketlib.tasks.registry import get_task

    missing = [c for c in NEEDED_COLUMNS if c not in rows.columns]
    if missing:
        raise ValueError(
            f"results rows lack the column(s) {', '.join(missing)} (see ticketlib.tickets.results.ROW_COLUMNS)"
        )
    if not len(rows):
        return rows.copy()
    metric = {t: get_task(t).matching_metric for t in rows["task"].unique()}
    rows = rows[rows["metric"] == rows["task"].map(metric)].copy()
    rows["source_task"] = rows["source_task"].fillna(rows["task"])
    rows["rewind_step"] = rows["rewind_step"].fillna(0)
    return rows


def _per_seed(part: pd.DataFrame) -> dict[int, float]:
    return {int(seed): float(v) for seed, v in part.groupby("seed")["value"].mean().items()}


def _by_experiment(part: pd.DataFrame, prefer: str) -> pd.DataFrame:
    """The rows of the experiment with the most seeds (`prefer` on a tie)."""
    if part.empty:
        return part
    counts = part.groupby("experiment")["seed"].nunique()
    best = counts.max()
    winners = [e for e, n in counts.items() if n == best]
    return part[part["experiment"] == (prefer if prefer in winners else sorted(winners)[0])]


class Cells:
    """Per-seed values of every cell of the main rows, by the selection rules of the module docstring."""

    def __init__(self, rows: pd.DataFrame):
        self.rows = main_rows(rows)
        self.tasks = (
            sorted(self.rows.loc[self.rows["method"] != NO_SIGNAL_METHOD, "task"].unique()) if len(self.rows) else []
        )

    def _part(self, task: str, method: str, level: int | None = None, source: str | None = None) -> pd.DataFrame:
        r = self.rows
        part = r[(r["task"] == task) & (r["method"] == method) & (r["source_task"] == (source or task))]
        if level is not None:
            part = part[part["level"] == level]
        return part

    def full(self, task: str) -> tuple[dict[int, float], str]:
        """Seed -> value of the unpruned model, and where it came from."""
        full = _by_experiment(self._part(task, "full"), EVAL_EXPERIMENT)
        search = self.imp(task, 0)
        if len(full) and full["seed"].nunique() >= len(search):
            return _per_seed(full), "full model runs"
        return search, "IMP level 0 (the search's unpruned training)"

    def _imp_rows(self, task: str, level: int | None = None) -> pd.DataFrame:
        part = self._part(task, "imp", level)
        return part[(part["rewind_step"] == 0) & (part["experiment"] != REWINDING_EXPERIMENT)]

    def imp(self, task: str, level: int) -> dict[int, float]:
        return _per_seed(_by_experiment(self._imp_rows(task, level), EVAL_EXPERIMENT))

    def imp_levels(self, task: str) -> list[int]:
        return sorted(int(v) for v in self._imp_rows(task)["level"].unique() if v > 0)

    def method(self, task: str, method: str, level: int, source: str | None = None) -> dict[int, float]:
        if method == "imp":
            return self.imp(task, level)
        if method == "full":
            return self.full(task)[0]
        return _per_seed(self._part(task, method, level, source))

    def sparsity(self, task: str, level: int, method: str = "imp", source: str | None = None) -> float:
        part = self._part(task, method, level, source) if method != "imp" else self._imp_rows(task, level)
        if not len(part):
            part = self.rows[(self.rows["task"] == task) & (self.rows["level"] == level)]
        return float(part["sparsity"].mean()) if len(part) else math.nan

    def metric(self, task: str) -> str:
        from ticketlib.tasks.registry import get_task

        return get_task(task).matching_metric


def mean_std(values: Mapping[int, float]) -> dict:
    vals = list(values.values())
    return {
        "mean": float(np.mean(vals)) if vals else math.nan,
        "std": float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0,
        "seeds": len(vals),
    }


def seed_stats(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean, std (ddof 1; 0 for one seed) and seeds per task, method, source task and level (the
    cells of the selection rules; the full model at level 0)."""
    cells = Cells(rows)
    out = []
    for task in cells.tasks:
        full, _ = cells.full(task)
        if full:
            out.append(
                {
                    "task": task,
                    "method": "full",
                    "source_task": task,
                    "level": 0,
                    "sparsity": 0.0,
                    "metric": cells.metric(task),
                    **mean_std(full),
                }
            )
        part = cells.rows[(cells.rows["task"] == task) & ~cells.rows["method"].isin(["full", NO_SIGNAL_METHOD])]
        keys = (
            part[["method", "source_task", "level"]].drop_duplicates().sort_values(["method", "source_task", "level"])
        )
        for method, source, level in keys.itertuples(index=False):
            if method == "imp" and (level == 0 or source != task):
                continue
            values = cells.method(task, method, int(level), source)
            if values:
                out.append(
                    {
                        "task": task,
                        "method": method,
                        "source_task": source,
                        "level": int(level),
                        "sparsity": cells.sparsity(task, int(level), method, source),
                        "metric": cells.metric(task),
                        **mean_std(values),
                    }
                )
    columns = ["task", "method", "source_task", "level", "sparsity", "metric", "mean", "std", "seeds"]
    return pd.DataFrame(out, columns=columns)
