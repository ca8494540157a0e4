"""Early-bird tickets against IMP: what stopping the levels early saves, and what it
costs the final ticket. Each early-bird find_tickets run is paired with the plain IMP run of the
same task and seed: the run whose identity is the early-bird run's with early_bird off
(`plain_identity`), so every other recipe field is the same. Per pair: the training steps of all
levels (early-bird against IMP at the same final sparsity), the final ticket's metric, and the
overlap of the two final masks (Jaccard of the pruned weights, normalised Hamming distance). Per
task: the steps ratio, and the final metric's paired gap early-bird - IMP judged by the study's
declared matching rule (rules.matching_cells, with the IMP ticket in the full model's place:
"EB - IMP <= -margin" rejected at the profile's alpha, Holm across the tasks; its interval is the
rule's 1 - 2 alpha one).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import pandas as pd

from ticketlib.core.early_bird import mask_distance
from ticketlib.study.cells import SPARSITY_TOLERANCE, Cells
from ticketlib.study.identity import run_id
from ticketlib.study.rules import Match, Rules, matching_cells
from ticketlib.tasks.params import Recipe
from ticketlib.tasks.registry import get_task
from ticketlib.tickets.ticket import available_levels, load_ticket, read_level

TARGET_RATIO = 2.0  # the aim: at least 2x fewer training steps than IMP, at an accuracy that matches

SEED_COLUMNS = [
    "task",
    "seed",
    "early-bird run",
    "IMP run",
    "level",
    "sparsity",
    "EB steps",
    "IMP steps",
    "steps ratio",
    "EB steps per level",
    "stopped early",
    "at first check",
    "largest distance",
    "metric",
    "EB",
    "IMP",
    "EB - IMP",
    "Jaccard",
    "Hamming",
    "EB train s",
    "IMP train s",
]
TASK_COLUMNS = [
    "task",
    "pairs",
    "level",
    "sparsity",
    "EB steps",
    "IMP steps",
    "steps ratio",
    "stopped early",
    "at first check",
    "largest distance",
    "metric",
    "EB mean",
    "IMP mean",
    "EB - IMP",
    "CI low",
    "CI high",
    "margin",
    "matches IMP",
    "Jaccard mean",
    "Jaccard min",
    "Hamming mean",
    "Hamming max",
    "train s ratio",
    "target",
]


@dataclass(frozen=True)
class Planned:
    """A find_tickets run as a profile plans it: its identity (ticketlib.study.identity) and folder."""

    identity: dict
    folder: Path

    @property
    def run_id(self) -> str:
        return run_id(self.identity)

    @property
    def recipe(self) -> dict:
        return self.identity["params"]["recipe"]


@dataclass(frozen=True)
class Pair:
    task: str
    seed: int
    early: Planned
    imp: Planned


def plain_identity(identity: dict) -> dict:
    """The identity of the same run with early_bird off: the IMP run an early-bird run is paired with."""
    recipe = Recipe.from_namespace(identity["params"]["recipe"]).replace(early_bird=False)  # fields only
    return {**identity, "params": {**identity["params"], "recipe": recipe.identity()}}


def _differences(a: dict, b: dict) -> list[str]:
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


def pair_runs(early: Sequence[Planned], against: Sequence[Planned]) -> list[Pair]:
    """Each early-bird run with the run of `against` that is its identity with early_bird off."""
    by_id = {run.run_id: run for run in against}
    pairs, unmatched = [], []
    for run in early:
        recipe = run.recipe
        if not recipe.get("early_bird"):
            raise ValueError(
                f"{run.folder.name}: early_bird is off in this run's recipe; the early-bird "
                "profile's find_tickets runs must have it on"
            )
        match = by_id.get(run_id(plain_identity(run.identity)))
        if match is None:
            plain = plain_identity(run.identity)["params"]["recipe"]
            near = [
                _differences(plain, r.recipe)
                for r in against
                if r.recipe.get("task") == recipe["task"] and r.recipe.get("seed") == recipe["seed"]
            ]
            why = f"its nearest differs in {', '.join(min(near, key=len))}" if near else "none of this task and seed"
            unmatched.append(f"{recipe['task']} seed {recipe['seed']} ({why})")
            continue
        pairs.append(Pair(recipe["task"], int(recipe["seed"]), run, match))
    if unmatched:
        raise ValueError("no IMP run with the same recipe but early_bird off for: " + "; ".join(unmatched))
    return sorted(pairs, key=lambda p: (p.task, p.seed))


def finished_levels(run: Planned) -> list[dict] | None:
    """The run's level.json rows if every level 0..levels is finished in its folder, else None."""
    levels = int(run.recipe["levels"])
    if not run.folder.is_dir() or available_levels(run.folder) != list(range(levels + 1)):
        return None
    return [read_level(run.folder, level) for level in range(levels + 1)]


def _cost(rows: list[dict], patience: int) -> dict:
    """Steps, seconds and the stopping record of an early-bird run's levels below the last."""
    early = rows[:-1]
    stopped = [r for r in early if r.get("stopped_early")]
    distances = [d for r in early for d in r.get("mask_distances", [])]
    return {
        "EB steps per level": "/".join(str(int(r["steps"])) for r in rows),
        "stopped early": len(stopped),
        "at first check": sum(len(r.get("mask_distances", [])) == patience for r in stopped),
        "largest distance": max(distances, default=math.nan),
    }


def measure_pair(pair: Pair) -> dict | None:
    """One seed's row (SEED_COLUMNS), or None while either run is unfinished."""
    early_rows, imp_rows = finished_levels(pair.early), finished_levels(pair.imp)
    if early_rows is None or imp_rows is None:
        return None
    level = len(imp_rows) - 1
    eb_ticket, imp_ticket = load_ticket(pair.early.folder, level), load_ticket(pair.imp.folder, level)
    if abs(eb_ticket.sparsity - imp_ticket.sparsity) > SPARSITY_TOLERANCE:
        raise ValueError(
            f"{pair.task} seed {pair.seed}: the final tickets are not at the same sparsity "
            f"({eb_ticket.sparsity:.4f} early-bird, {imp_ticket.sparsity:.4f} IMP)"
        )
    metric = get_task(pair.task).matching_metric
    for name, rows in (("early-bird", early_rows), ("IMP", imp_rows)):
        if metric not in rows[-1]["metrics"]:
            raise ValueError(
                f"{pair.task} seed {pair.seed}: the {name} run's final level has no {metric!r} "
                f"(metrics: {sorted(rows[-1]['metrics'])})"
            )
    eb_steps, imp_steps = sum(int(r["steps"]) for r in early_rows), sum(int(r["steps"]) for r in imp_rows)
    eb, imp = float(early_rows[-1]["metrics"][metric]), float(imp_rows[-1]["metrics"][metric])
    return {
        "task": pair.task,
        "seed": pair.seed,
        "early-bird run": pair.early.folder.name,
        "IMP run": pair.imp.folder.name,
        "level": level,
        "sparsity": round(imp_ticket.sparsity, 6),
        "EB steps": eb_steps,
        "IMP steps": imp_steps,
        "steps ratio": imp_steps / eb_steps,
        **_cost(early_rows, int(pair.early.recipe["early_bird_patience"])),
        "metric": metric,
        "EB": eb,
        "IMP": imp,
        "EB - IMP": eb - imp,
        "Jaccard": eb_ticket.overlap(imp_ticket),
        "Hamming": mask_distance(eb_ticket.mask, imp_ticket.mask),
        "EB train s": sum(float(r["train_seconds"]) for r in early_rows),
        "IMP train s": sum(float(r["train_seconds"]) for r in imp_rows),
    }


def seed_table(pairs: Sequence[Pair]) -> tuple[pd.DataFrame, list[Pair]]:
    """The finished pairs' rows, and the pairs not finished yet."""
    measured = [(pair, measure_pair(pair)) for pair in pairs]
    rows = [row for _, row in measured if row is not None]
    return pd.DataFrame(rows, columns=SEED_COLUMNS), [pair for pair, row in measured if row is None]


def verdicts(seeds: pd.DataFrame, rules: Rules) -> dict:
    """task -> rules.Cell: the matching rule on the final tickets, early-bird in IMP's place and
    IMP in the full model's (one Holm family over the tasks)."""
    rows = []
    for row in seeds.itertuples(index=False):
        base = {
            "experiment": "early_bird",
            "task": row.task,
            "source_task": row.task,
            "seed": row.seed,
            "level": row.level,
            "sparsity": row.sparsity,
            "rewind_step": 0,
            "metric": row.metric,
        }
        rows += [{**base, "method": "imp", "value": row.EB}, {**base, "method": "full", "value": row.IMP}]
    cells = Cells(pd.DataFrame(rows))
    return {cell.task: cell for cell in matching_cells(cells, cells.tasks, rules)}


def target(ratio: float, result: str, target_ratio: float = TARGET_RATIO) -> str:
    """Whether a task meets the issue's target: `target_ratio` x fewer steps and a final ticket
    that matches IMP's by the declared rule."""
    fewer = ratio >= target_ratio
    if result == Match.MATCHING.value:
        return "met" if fewer else f"not met: {ratio:.2f}x fewer steps < {target_ratio:g}x"
    if result == Match.NOT_MATCHING.value:
        return "not met: the final ticket does not match IMP's"
    return "undecided: the seeds cannot tell whether the final ticket matches" + (
        "" if fewer else (f"; and {ratio:.2f}x fewer steps < {target_ratio:g}x")
    )


def task_table(seeds: pd.DataFrame, rules: Rules, target_ratio: float = TARGET_RATIO) -> pd.DataFrame:
    """Per task (TASK_COLUMNS): the steps, the final tickets' paired gap with the rule's interval
    and verdict, the masks' overlap, and the target."""
    judged = verdicts(seeds, rules) if len(seeds) else {}
    out = []
    for task, part in seeds.groupby("task", sort=True):
        cell = judged[task]
        gap = cell.tested.gap if cell.tested else None
        ratio = float(part["IMP steps"].sum() / part["EB steps"].sum())
        levels = int(part["level"].iloc[0]) * len(part)  # the levels below the last, over the seeds
        out.append(
            {
                "task": task,
                "pairs": len(part),
                "level": int(part["level"].iloc[0]),
                "sparsity": float(part["sparsity"].mean()),
                "EB steps": float(part["EB steps"].mean()),
                "IMP steps": float(part["IMP steps"].mean()),
                "steps ratio": ratio,
                "stopped early": f"{int(part['stopped early'].sum())} of {levels}",
                "at first check": f"{int(part['at first check'].sum())} of {int(part['stopped early'].sum())}",
                "largest distance": float(part["largest distance"].max()),
                "metric": part["metric"].iloc[0],
                "EB mean": float(part["EB"].mean()),
                "IMP mean": float(part["IMP"].mean()),
                "EB - IMP": gap.mean if gap else float(part["EB - IMP"].mean()),
                "CI low": gap.low if gap else math.nan,
                "CI high": gap.high if gap else math.nan,
                "margin": rules.margin_for(part["metric"].iloc[0]),
                "matches IMP": cell.result,
                "Jaccard mean": float(part["Jaccard"].mean()),
                "Jaccard min": float(part["Jaccard"].min()),
                "Hamming mean": float(part["Hamming"].mean()),
                "Hamming max": float(part["Hamming"].max()),
                "train s ratio": float(part["IMP train s"].sum() / part["EB train s"].sum()),
                "target": target(ratio, cell.result, target_ratio),
            }
        )
    return pd.DataFrame(out, columns=TASK_COLUMNS)


def markdown(table: pd.DataFrame) -> str:
    """A table as GitHub markdown: gaps signed, ratios as 2.00x, other floats to 3 decimals."""

    def cell(column: str, value) -> str:
        if isinstance(value, float):
            if math.isnan(value):
                return ""
            if column in ("EB - IMP", "CI low", "CI high"):
                return f"{value:+.3f}"
            if column.endswith("ratio"):
                return f"{value:.2f}x"
            if column in ("EB steps", "IMP steps", "EB train s", "IMP train s"):
                return f"{value:.0f}"
            return f"{value:.4f}" if column.startswith(("largest", "Hamming")) else f"{value:.3f}"
        return str(value)

    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    lines += [
        "| " + " | ".join(cell(c, v) for c, v in zip(table.columns, row)) + " |"
        for row in table.itertuples(index=False)
    ]
    return "\n".join(lines)


def write_comparison(
    pairs: Sequence[Pair], rules: Rules, out: str | Path, target_ratio: float = TARGET_RATIO
) -> tuple[dict[str, Path], list[Pair]]:
    """`<out>/early_bird.csv` (per task), `early_bird_seeds.csv` (per seed) and `early_bird.md`
    (both tables, with the rule); returns the paths and the pairs not finished (left out)."""
    from ticketlib.foundations.atomic import atomic_path

    seeds, unfinished = seed_table(pairs)
    if seeds.empty:
        raise FileNotFoundError(f"none of the {len(pairs)} early-bird/IMP pairs is finished in its run store")
    tasks = task_table(seeds, rules, target_ratio)
    out = Path(out)
    paths = {"tasks": out / "early_bird.csv", "seeds": out / "early_bird_seeds.csv", "markdown": out / "early_bird.md"}
    for name, table in (("tasks", tasks), ("seeds", seeds)):
        with atomic_path(paths[name]) as tmp:
            table.to_csv(tmp, index=False)
    note = (
        f"EB - IMP: the final tickets' {', '.join(sorted(set(tasks['metric'])))}, paired by seed, with its "
        f"{1 - 2 * rules.alpha:.0%} interval; matches IMP: the study's matching rule (margin, alpha "
        f"{rules.alpha:g}, Holm across the tasks). Steps ratio: IMP's total training steps over early-bird's "
        f"(all levels, summed over the seeds). Jaccard: of the two final masks' pruned weights; Hamming: the "
        f"share of prunable weights kept in one and pruned in the other. Stopped early: of the levels below the "
        f"last; at first check: of those, the ones that stopped at the first check the rule allows (a stop set "
        f"by every x (patience + 1), not by the mask); largest distance: between two consecutive draws, what "
        f"epsilon is compared with."
    )
    left_out = "".join(f"\nNot finished, left out: {p.task} seed {p.seed}." for p in unfinished)
    with atomic_path(paths["markdown"]) as tmp:
        tmp.write_text(f"{markdown(tasks)}\n\n{note}{left_out}\n\n{markdown(seeds)}\n")
    return paths, unfinished
