"""The budget curve: claim 1 as a function of the fine-tuning budget. Each budget is one study (a
profile of params/curve*.yaml and its reports folder), judged by its own declared rules. Per task
and IMP level: IMP - full model and IMP - one-shot magnitude pruning of theta_0, paired by seed,
with the equivalence verdict; per task, the highest matching sparsity by that rule and by the
paper's two criteria; all against the training steps per level, with the paper's budget marked.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd

from ticketlib.foundations.paper import paper_row
from ticketlib.foundations.paths import RESULTS_CSV, RUNS_JSON
from ticketlib.study.claims import Judgement, judge, matching_summary
from ticketlib.study.rules import Rules

# The paper's budget per IMP level on SST-2: 3 epochs of its 67,349 training sentences in batches
# of 32 (STUDY.md: the method as the reference code does it).
PAPER_STEPS = {"SST-2": 3 * math.ceil(67349 / 32)}
OMP = "omp"

CURVE_COLUMNS = [
    "budget",
    "steps",
    "batch_size",
    "task",
    "level",
    "sparsity",
    "pairs",
    "IMP - full",
    "CI low",
    "CI high",
    "matching (equivalence)",
    "IMP - OMP",
    "OMP CI low",
    "OMP CI high",
]
HIGHEST_COLUMNS = [
    "budget",
    "steps",
    "batch_size",
    "task",
    "learned",
    "full mean",
    "full std",
    "full seeds",
    "highest matching (equivalence)",
    "highest matching (within 1 std)",
    "highest matching (>= full)",
    "train minutes",
]


@dataclass(frozen=True)
class Budget:
    """One point of the curve: a study's fine-tuning budget per IMP level, with its verdicts."""

    profile: str
    batch_size: int
    rows: pd.DataFrame
    judgement: Judgement

    def steps(self, task: str) -> int:
        """The training steps per IMP level of `task` (each level is one fine-tuning)."""
        imp = self.rows[(self.rows["task"] == task) & (self.rows["method"] == "imp")]
        return int(imp["steps"].max())

    def label(self, task: str) -> str:
        return f"{self.steps(task)} x {self.batch_size}"


def read_budget(reports: str | Path) -> Budget:
    """A budget from a study's reports folder: its results.csv, judged by its runs.json's rules;
    the batch size from its profile (shipped, or the path runs.json names)."""
    from ticketlib.study.profiles import load_profile

    reports = Path(reports)
    meta = json.loads((reports / RUNS_JSON).read_text())
    rows = pd.read_csv(reports / RESULTS_CSV)
    profile = load_profile(meta["profile"])
    return Budget(
        profile.name, int(profile.defaults["batch_size"]), rows, judge(rows, Rules.from_mapping(meta.get("rules")))
    )


def curve_table(budgets: Sequence[Budget]) -> pd.DataFrame:
    """Per budget, learned task and IMP level: IMP - full (the equivalence test's interval and
    verdict) and IMP - OMP, both paired by seed."""
    out = []
    for budget in budgets:
        gaps = budget.judgement.gaps
        omp = gaps[gaps["method"] == OMP] if len(gaps) else gaps
        for cell in budget.judgement.match_cells:
            gap = cell.tested.gap if cell.tested else None
            other = omp[(omp["task"] == cell.task) & (omp["level"] == cell.level)] if len(omp) else omp
            out.append(
                {
                    "budget": budget.label(cell.task),
                    "steps": budget.steps(cell.task),
                    "batch_size": budget.batch_size,
                    "task": cell.task,
                    "level": cell.level,
                    "sparsity": cell.sparsity,
                    "pairs": cell.pairs,
                    "IMP - full": gap.mean if gap else math.nan,
                    "CI low": gap.low if gap else math.nan,
                    "CI high": gap.high if gap else math.nan,
                    "matching (equivalence)": cell.result,
                    "IMP - OMP": other["gap"].iloc[0] if len(other) else math.nan,
                    "OMP CI low": other["CI low"].iloc[0] if len(other) else math.nan,
                    "OMP CI high": other["CI high"].iloc[0] if len(other) else math.nan,
                }
            )
    return pd.DataFrame(out, columns=CURVE_COLUMNS).sort_values(["task", "steps", "level"], ignore_index=True)


def _train_minutes(rows: pd.DataFrame, task: str) -> float:
    runs = rows[(rows["task"] == task) & rows["train_seconds"].notna()]
    runs = runs.drop_duplicates(["run_id", "method", "seed", "level", "rewind_step"])
    return round(float(runs["train_seconds"].sum()) / 60, 1)


def highest_table(budgets: Sequence[Budget]) -> pd.DataFrame:
    """Per budget and task: the full model, and the highest matching sparsity by the declared
    equivalence rule and by the paper's Table 2 and Table 4 criteria (NaN: none matches)."""
    out = []
    for budget in budgets:
        paper = budget.judgement.matching.set_index("task")
        for task, item in budget.judgement.learning.items():
            if task not in paper.index:
                continue
            learned = item.status == "learned"
            out.append(
                {
                    "budget": budget.label(task),
                    "steps": budget.steps(task),
                    "batch_size": budget.batch_size,
                    "task": task,
                    "learned": item.status,
                    "full mean": paper.at[task, "full mean"],
                    "full std": paper.at[task, "full std"],
                    "full seeds": paper.at[task, "full seeds"],
                    "highest matching (equivalence)": matching_summary(budget.judgement.match_cells, task)
                    if learned
                    else math.nan,
                    "highest matching (within 1 std)": paper.at[task, "highest sparsity within 1 std"],
                    "highest matching (>= full)": paper.at[task, "highest sparsity >= full"],
                    "train minutes": _train_minutes(budget.rows, task),
                }
            )
    return pd.DataFrame(out, columns=HIGHEST_COLUMNS).sort_values(["task", "steps"], ignore_index=True)


def markdown(table: pd.DataFrame) -> str:
    """A table as GitHub markdown: sparsities and gaps rounded, NaN as "none"."""
    shown = table.copy()
    for column in shown.columns:
        if column.startswith("highest") or column == "sparsity":
            shown[column] = [("none" if pd.isna(v) else f"{v:.0%}") for v in shown[column]]
        elif shown[column].dtype.kind == "f":
            shown[column] = [
                ("" if pd.isna(v) else f"{v:+.3f}" if "IMP" in column or "CI" in column else f"{v:.3f}")
                for v in shown[column]
            ]
    lines = ["| " + " | ".join(shown.columns) + " |", "|" + "---|" * len(shown.columns)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in shown.itertuples(index=False)]
    return "\n".join(lines)


def write_curve(reports: Sequence[str | Path], out: str | Path) -> dict[str, Path]:
    """The curve of these studies' reports folders: `<out>/curve.csv` (per level), `highest.csv`
    (per budget and task) and the figure `curve.png`/`.svg`."""
    from ticketlib.foundations.atomic import atomic_path
    from ticketlib.study.figures import save_figure

    budgets = [read_budget(r) for r in reports]
    curve, highest = curve_table(budgets), highest_table(budgets)
    out = Path(out)
    paths = {}
    for name, table in (("curve", curve), ("highest", highest)):
        paths[name] = out / f"{name}.csv"
        with atomic_path(paths[name]) as tmp:
            table.to_csv(tmp, index=False)
    margins = [b.judgement.rules.margin_for(item.metric) for b in budgets for item in b.judgement.learning.values()]
    figure = budget_curve_figure(curve, highest, max(margins, default=0.0), PAPER_STEPS)
    paths.update({f"figure {k}": v for k, v in save_figure(figure, out, "curve").items()})
    return paths


def _steps_ticks(ax, steps) -> None:
    """Log x axis ticked at the budgets' own step counts, written as plain numbers."""
    ticks = sorted({int(s) for s in steps})
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.minorticks_off()


def budget_curve_figure(curve: pd.DataFrame, highest: pd.DataFrame, margin: float, paper_steps: Mapping[str, int]):
    """The budget curve: first the highest matching sparsity against steps per
    level, by each criterion, with the paper's (SST-2 and its stand-in) at the paper's budget;
    then one panel per task: IMP - full at each sparsity against steps per level, with its
    interval and the matching margin."""
    from ticketlib.study.figures import panels, pyplot

    plt = pyplot()
    tasks = sorted(curve["task"].unique())
    fig, axes = panels(plt, 1 + len(tasks), 4.2, 3.2)
    ax = axes[0]
    # one marker per criterion, nudged apart on the log axis so that equal values stay visible
    styles = {
        "highest matching (equivalence)": ("-", "o", 0.93),
        "highest matching (within 1 std)": ("--", "s", 1.0),
        "highest matching (>= full)": (":", "^", 1.07),
    }
    drawn = set()
    for index, task in enumerate(tasks):
        color = f"C{index}"
        points = highest[highest["task"] == task]
        for column, (style, marker, nudge) in styles.items():
            ax.plot(
                points["steps"] * nudge,
                points[column].fillna(0.0),
                style,
                marker=marker,
                color=color,
                label=f"{task}: {column.split('(')[1].rstrip(')')}",
            )
        found = paper_row(task)
        if found and found[0].task in paper_steps and found[0].task not in drawn:  # a stand-in shares its task's
            drawn.add(found[0].task)
            ax.plot(
                [paper_steps[found[0].task]],
                [found[0].table2],
                "*",
                markersize=12,
                color="black",
                label=f"paper, {found[0].task} (within 1 std)",
            )
    ax.set(
        xscale="log",
        xlabel="training steps per IMP level",
        ylabel="highest matching sparsity (0: none)",
        title="Matching against the budget",
        ylim=(-0.05, 1.0),
    )
    _steps_ticks(ax, list(highest["steps"]) + [paper_steps[k] for k in paper_steps])
    ax.legend(fontsize=6)
    for ax, task in zip(axes[1:], tasks):
        points = curve[curve["task"] == task]
        for index, (sparsity, group) in enumerate(points.groupby("sparsity")):
            ax.errorbar(
                group["steps"],
                group["IMP - full"],
                yerr=[group["IMP - full"] - group["CI low"], group["CI high"] - group["IMP - full"]],
                marker="o",
                capsize=3,
                color=f"C{index}",
                label=f"{sparsity:.0%}",
            )
        ax.axhline(0.0, color="black", linewidth=0.8)
        ax.axhline(-margin, color="grey", linestyle="--", linewidth=0.8, label=f"-margin ({margin:g})")
        ax.set(xscale="log", xlabel="training steps per IMP level", ylabel="IMP - full (paired by seed)", title=task)
        _steps_ticks(ax, points["steps"])
        ax.legend(fontsize=7, title="sparsity", title_fontsize=7)
    fig.tight_layout()
    return fig
