"""The study's tables from the tidy rows: learning, matching, gaps, transfer. One
definition for every report (quick, cpu, paper) and for the summary notebook; the statistics
they use (intervals, tests): ticketlib.foundations.stats; the values of each cell: ticketlib.study.cells.

Did the full model learn the task? (`learning_table`)
  The no-signal score is what a model that ignores its input scores (metrics.no_signal_score):
  the rows' method "no_signal" rows (NO_SIGNAL_METHOD), else a `no_signal` mapping given by the
  caller, else the label-free bar of correlation metrics (0). With n >= 2 seeds the task
  *learned* when the lower end of the `confidence` t-interval of the full model's mean is above
  the no-signal score plus `margin`; it *did not learn* otherwise. With one seed there is no
  interval: it learned when its value clears the no-signal score by `one_seed_margin`, did not
  learn when the value is at or below the no-signal score, and is "not established" between.
  Without a no-signal score it is "not established". Only tasks that learned count in verdicts.

Matching (the paper's two criteria; `matching_table`)
  within 1 std (Table 2): IMP mean >= full mean - full std (std over seeds, ddof 1);
  >= full (Table 4): IMP mean >= full mean. The highest matching sparsity is the highest
  sparsity tested at which IMP matches (levels > 0).

Gaps (`gap_table`)
  Per task and level: IMP - random pruning, IMP - random re-init, IMP - OMP, IMP - standard
  pruning and IMP - full, where measured, paired by seed (the seeds both cells have): mean
  difference and its `confidence` t-interval (n >= 2 pairs), otherwise the difference of the
  means without an interval. Claim 2 counts the first two only (the paper's claim).

Transfer (`transfer_table`)
  Per source task, target task and level: the transferred mask's mean, and its difference from
  the target's own IMP ticket at the same level, paired by seed where seeds overlap.

The claims and their verdicts: ticketlib.study.claims.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ticketlib.foundations.methods import GAP_METHODS, METHOD_NAMES
from ticketlib.foundations.stats import CONFIDENCE, Interval, paired_gap, t_interval
from ticketlib.study.cells import NO_SIGNAL_METHOD, Cells, mean_std

MARGIN = 0.0
ONE_SEED_MARGIN = 0.05
MATCH_TOLERANCE = 1e-9  # floating-point noise only: 0.81 - 0.01 must count as >= 0.80

LEARNED, NOT_LEARNED, NOT_ESTABLISHED = "learned", "did not learn", "not established"


# --- did the task learn? --------------------------------------------------------------------


def no_signal_scores(rows: pd.DataFrame, given: Mapping[str, float] | None = None) -> dict[str, float]:
    """task -> no-signal score of its matching metric: `given` first, then the rows' method
    "no_signal" rows, then the label-free bar of the metric (correlations: 0)."""
    from ticketlib.foundations.metrics import no_signal_score

    cells = Cells(rows)
    out: dict[str, float] = {}
    for task in cells.tasks:
        if given and task in given:
            out[task] = float(given[task])
            continue
        part = cells.rows[(cells.rows["task"] == task) & (cells.rows["method"] == NO_SIGNAL_METHOD)]
        if len(part):
            out[task] = float(part["value"].mean())
            continue
        metric = cells.metric(task)
        if metric in ("matthews", "pearson", "spearman"):
            out[task] = float(no_signal_score(metric))
    return out


@dataclass(frozen=True)
class Learning:
    task: str
    metric: str
    full: Interval | None
    source: str
    no_signal: float | None
    status: str
    reason: str


def learned(
    full: Interval | None, no_signal: float | None, margin: float = MARGIN, one_seed_margin: float = ONE_SEED_MARGIN
) -> tuple[str, str]:
    """(status, reason) for a full model's interval against the no-signal score (module docstring)."""
    if full is None:
        return NOT_ESTABLISHED, "no full-model result"
    if no_signal is None:
        return NOT_ESTABLISHED, "no no-signal score for this task in the rows"
    bar = no_signal + margin
    if full.has_interval:
        if full.low > bar:
            return LEARNED, (
                f"the lower end of the full model's {full.confidence:.0%} interval, {full.low:.3f}, is "
                f"above the no-signal score {no_signal:.3f}" + (f" + {margin}" if margin else "")
            )
        return NOT_LEARNED, (
            f"the full model's {full.confidence:.0%} interval [{full.low:.3f}, {full.high:.3f}] "
            f"reaches the no-signal score {no_signal:.3f}" + (f" + {margin}" if margin else "")
        )
    if full.mean > no_signal + one_seed_margin:
        return LEARNED, (
            f"one seed: {full.mean:.3f} clears the no-signal score {no_signal:.3f} by more than {one_seed_margin}"
        )
    if full.mean <= no_signal:
        return NOT_LEARNED, f"one seed: {full.mean:.3f} is at or below the no-signal score {no_signal:.3f}"
    return NOT_ESTABLISHED, (
        f"one seed: {full.mean:.3f} is above the no-signal score {no_signal:.3f} by less than "
        f"{one_seed_margin}; more seeds are needed"
    )


def learning(
    rows: pd.DataFrame,
    no_signal: Mapping[str, float] | None = None,
    confidence: float = CONFIDENCE,
    margin: float = MARGIN,
    one_seed_margin: float = ONE_SEED_MARGIN,
) -> dict[str, Learning]:
    cells = Cells(rows)
    bars = no_signal_scores(rows, no_signal)
    out = {}
    for task in cells.tasks:
        values, source = cells.full(task)
        full = t_interval(list(values.values()), confidence) if values else None
        status, reason = learned(full, bars.get(task), margin, one_seed_margin)
        out[task] = Learning(task, cells.metric(task), full, source, bars.get(task), status, reason)
    return out


def learning_table(rows: pd.DataFrame, no_signal: Mapping[str, float] | None = None, **params) -> pd.DataFrame:
    """Per task: the full model's mean, std, seeds and interval, the no-signal score, and whether
    it learned (status and reason)."""
    out = []
    for task, item in learning(rows, no_signal, **params).items():
        full = item.full
        out.append(
            {
                "task": task,
                "metric": item.metric,
                "full mean": full.mean if full else math.nan,
                "full std": full.std if full else math.nan,
                "full seeds": full.n if full else 0,
                "CI low": full.low if full else math.nan,
                "CI high": full.high if full else math.nan,
                "no-signal score": item.no_signal if item.no_signal is not None else math.nan,
                "learned": item.status,
                "why": item.reason,
            }
        )
    return pd.DataFrame(
        out,
        columns=[
            "task",
            "metric",
            "full mean",
            "full std",
            "full seeds",
            "CI low",
            "CI high",
            "no-signal score",
            "learned",
            "why",
        ],
    )


# --- matching -------------------------------------------------------------------------------

MATCHING_COLUMNS = [
    "task",
    "metric",
    "learned",
    "full mean",
    "full std",
    "full seeds",
    "sparsities tested",
    "seeds per sparsity",
    "highest matching (within 1 std)",
    "highest matching (>= full)",
    "highest sparsity within 1 std",
    "highest sparsity >= full",
]


def matches(mean: float, full_mean: float, full_std: float, criterion: str = "within_std") -> bool:
    """The paper's matching rule: Table 2 ("within_std"): mean >= full mean - full std;
    Table 4 ("at_least"): mean >= full mean."""
    if criterion == "within_std":
        return mean >= full_mean - full_std - MATCH_TOLERANCE
    if criterion == "at_least":
        return mean >= full_mean - MATCH_TOLERANCE
    raise ValueError(f"criterion must be 'within_std' or 'at_least', got {criterion!r}")


def _pct(value: float) -> str:
    return "none" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.0%}"


def matching_table(rows: pd.DataFrame, no_signal: Mapping[str, float] | None = None, **params) -> pd.DataFrame:
    """The paper's Table 2 and Table 4 for these rows: per task, the IMP sparsities tested, their
    seeds, and the highest sparsity matching by each criterion (text and number; NaN: none)."""
    cells = Cells(rows)
    learn = learning(rows, no_signal, **params)
    out = []
    for task in cells.tasks:
        item = learn[task]
        if item.full is None:
            continue
        levels = cells.imp_levels(task)
        points = [(cells.sparsity(task, k), mean_std(cells.imp(task, k))) for k in levels]
        points.sort(key=lambda p: p[0])
        within = [s for s, st in points if matches(st["mean"], item.full.mean, item.full.std, "within_std")]
        strict = [s for s, st in points if matches(st["mean"], item.full.mean, item.full.std, "at_least")]
        out.append(
            {
                "task": task,
                "metric": item.metric,
                "learned": item.status,
                "full mean": item.full.mean,
                "full std": item.full.std,
                "full seeds": item.full.n,
                "sparsities tested": ", ".join(f"{s:.0%}" for s, _ in points),
                "seeds per sparsity": ", ".join(str(st["seeds"]) for _, st in points),
                "highest matching (within 1 std)": _pct(max(within) if within else None),
                "highest matching (>= full)": _pct(max(strict) if strict else None),
                "highest sparsity within 1 std": max(within) if within else math.nan,
                "highest sparsity >= full": max(strict) if strict else math.nan,
            }
        )
    return pd.DataFrame(out, columns=MATCHING_COLUMNS)


# --- paired gaps ----------------------------------------------------------------------------

GAP_COLUMNS = ["task", "level", "sparsity", "comparison", "gap", "CI low", "CI high", "pairs", "IMP mean", "other mean"]


def gap_table(rows: pd.DataFrame, confidence: float = CONFIDENCE, others: Sequence[str] = GAP_METHODS) -> pd.DataFrame:
    """Per task and IMP level: IMP - each of `others`, paired by seed, with its t-interval."""
    cells = Cells(rows)
    out = []
    for task in cells.tasks:
        for level in cells.imp_levels(task):
            imp = cells.imp(task, level)
            for other in others:
                values = cells.method(task, other, level)
                gap = paired_gap(imp, values, confidence)
                if gap is None:
                    continue
                out.append(
                    {
                        "task": task,
                        "level": level,
                        "sparsity": cells.sparsity(task, level),
                        "comparison": f"IMP - {METHOD_NAMES.get(other, other)}",
                        "method": other,
                        "gap": gap.mean,
                        "CI low": gap.low,
                        "CI high": gap.high,
                        "pairs": gap.n,
                        "IMP mean": float(np.mean(list(imp.values()))),
                        "other mean": float(np.mean(list(values.values()))),
                    }
                )
    return pd.DataFrame(out, columns=GAP_COLUMNS + ["method"])


# --- transfer -------------------------------------------------------------------------------

TRANSFER_COLUMNS = [
    "source",
    "target",
    "level",
    "sparsity",
    "mean",
    "std",
    "seeds",
    "own ticket mean",
    "difference",
    "CI low",
    "CI high",
    "pairs",
    "matching",
]


def transfer_table(rows: pd.DataFrame, confidence: float = CONFIDENCE) -> pd.DataFrame:
    """Per target task, level and source task: the transferred mask's mean over seeds and its
    difference from the target's own IMP ticket at that level (paired by seed where seeds
    overlap; NaN when the own ticket was not evaluated there), and whether it is matching on the
    target (within 1 std of the target's full model). The target's own ticket is a row with
    source == target (difference 0)."""
    cells = Cells(rows)
    r = cells.rows
    moved = r[r["method"] == "transfer"][["source_task", "task", "level"]].drop_duplicates() if len(r) else r
    out = []
    for target, level in sorted({(t, int(k)) for t, k in zip(moved["task"], moved["level"])}):
        own, full = cells.imp(target, level), mean_std(cells.full(target)[0])
        sources = sorted(moved.loc[(moved["task"] == target) & (moved["level"] == level), "source_task"])
        entries = ([(target, own, None)] if own else []) + [
            (s, cells.method(target, "transfer", level, s), None) for s in sources
        ]
        for source, values, _ in entries:
            gap = paired_gap(values, own, confidence) if source != target else None
            st = mean_std(values)
            out.append(
                {
                    "source": source,
                    "target": target,
                    "level": level,
                    "sparsity": cells.sparsity(
                        target, level, *(("imp",) if source == target else ("transfer", source))
                    ),
                    "mean": st["mean"],
                    "std": st["std"],
                    "seeds": st["seeds"],
                    "own ticket mean": mean_std(own)["mean"] if own else math.nan,
                    "difference": 0.0 if source == target else (gap.mean if gap else math.nan),
                    "CI low": gap.low if gap else math.nan,
                    "CI high": gap.high if gap else math.nan,
                    "pairs": st["seeds"] if source == target else (gap.n if gap else 0),
                    "matching": bool(full["seeds"]) and matches(st["mean"], full["mean"], full["std"]),
                }
            )
    return pd.DataFrame(out, columns=TRANSFER_COLUMNS)


PAIR_COLUMNS = ["target", "level", "sparsity", "a", "b", "gap", "CI low", "CI high", "pairs"]


def source_pair_gaps(rows: pd.DataFrame, confidence: float = CONFIDENCE) -> pd.DataFrame:
    """Every pair of masks fine-tuned on one target at one level (transferred masks and the target's
    own IMP ticket): their difference a - b paired by seed, with its t-interval (2+ pairs only).
    Can the transfer test tell masks apart at all?"""
    cells = Cells(rows)
    r = cells.rows
    moved = r[r["method"] == "transfer"] if len(r) else r
    out = []
    for (target, level), part in moved.groupby(["task", "level"]):
        level = int(level)
        masks = {s: cells.method(target, "transfer", level, s) for s in sorted(part["source_task"].unique())}
        if cells.imp(target, level):
            masks[target] = cells.imp(target, level)
        names = sorted(masks)
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                gap = paired_gap(masks[a], masks[b], confidence)
                if gap is not None and gap.has_interval:
                    out.append(
                        {
                            "target": target,
                            "level": level,
                            "sparsity": cells.sparsity(target, level),
                            "a": a,
                            "b": b,
                            "gap": gap.mean,
                            "CI low": gap.low,
                            "CI high": gap.high,
                            "pairs": gap.n,
                        }
                    )
    return pd.DataFrame(out, columns=PAIR_COLUMNS)
