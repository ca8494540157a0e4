"""The study's statistics from the tidy rows: cells, intervals, tests, tables. One definition for
every report (quick, cpu, paper) and for the summary notebook.

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

The claims and their verdicts: ticketlib.claims.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from .methods import GAP_METHODS, METHOD_NAMES
from .results import NO_SIGNAL

CONFIDENCE = 0.95
MARGIN = 0.0
ONE_SEED_MARGIN = 0.05
SPARSITY_TOLERANCE = 0.005  # a level's measured sparsity may sit a hair under its nominal value
MATCH_TOLERANCE = 1e-9  # floating-point noise only: 0.81 - 0.01 must count as >= 0.80
NO_SIGNAL_METHOD = NO_SIGNAL
SEARCH_EXPERIMENT, EVAL_EXPERIMENT, REWINDING_EXPERIMENT = "find_tickets", "baselines", "rewinding"

LEARNED, NOT_LEARNED, NOT_ESTABLISHED = "learned", "did not learn", "not established"

NEEDED_COLUMNS = ("experiment", "method", "task", "source_task", "seed", "level", "sparsity", "rewind_step",
                  "metric", "value")


# --- intervals ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Interval:
    """A mean over n values with its two-sided t-interval (low/high NaN when n < 2)."""

    mean: float
    low: float
    high: float
    n: int
    std: float
    confidence: float = CONFIDENCE

    @property
    def has_interval(self) -> bool:
        return self.n >= 2 and not math.isnan(self.low)

    def text(self, digits: int = 3) -> str:
        if not self.has_interval:
            return f"{self.mean:+.{digits}f} (n = {self.n}, no interval)"
        return (f"{self.mean:+.{digits}f} [{self.confidence:.0%} CI {self.low:+.{digits}f}, "
                f"{self.high:+.{digits}f}], n = {self.n}")


def t_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> Interval:
    """The mean of `values` and its two-sided `confidence` t-interval (Student, n - 1 degrees of
    freedom, sample std with ddof 1). One value: no interval (low = high = NaN)."""
    values = np.asarray(list(values), dtype=np.float64)
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    if values.size == 0:
        raise ValueError("t_interval needs at least one value")
    mean = float(values.mean())
    if values.size < 2:
        return Interval(mean, math.nan, math.nan, 1, 0.0, confidence)
    std = float(values.std(ddof=1))
    half = float(scipy_stats.t.ppf((1 + confidence) / 2, values.size - 1)) * std / math.sqrt(values.size)
    return Interval(mean, mean - half, mean + half, int(values.size), std, confidence)


def paired_gap(a: Mapping[int, float], b: Mapping[int, float], confidence: float = CONFIDENCE) -> Interval | None:
    """a - b paired by seed (the seeds both have): the mean difference and its t-interval; with
    no shared seed, the difference of the means (n = 0, no interval); None if either is empty."""
    if not a or not b:
        return None
    shared = sorted(set(a) & set(b))
    if not shared:
        return Interval(float(np.mean(list(a.values())) - np.mean(list(b.values()))), math.nan, math.nan, 0, 0.0,
                        confidence)
    return t_interval([a[s] - b[s] for s in shared], confidence)


# --- tests: one-sided, equivalence, Holm, seeds needed ----------------------------------------

@dataclass(frozen=True)
class Tested:
    """Paired differences tested against `threshold` both ways (one-sided Student t, statsmodels):
    `p_above` is the p-value of H0 "mean <= threshold" (small: the mean is above it), `p_below` of
    H0 "mean >= threshold". `gap` is the mean difference with its `confidence` interval; `p_tost`
    is the two one-sided tests' p-value for equivalence within +-|threshold| (NaN when threshold 0)."""

    gap: Interval
    threshold: float
    p_above: float
    p_below: float
    p_tost: float = math.nan


def test_against(differences: Sequence[float], threshold: float = 0.0,
                 confidence: float = CONFIDENCE) -> Tested:
    """Test the mean of paired `differences` against `threshold` in both directions; n >= 2."""
    from statsmodels.stats.weightstats import DescrStatsW

    values = np.asarray(list(differences), dtype=np.float64)
    if values.size < 2:
        raise ValueError(f"a paired test needs at least 2 pairs, got {values.size}")
    gap = t_interval(values, confidence)
    if gap.std == 0.0:  # no spread: the sign decides (statsmodels would divide by zero)
        above = 0.0 if gap.mean > threshold else 1.0
        below = 0.0 if gap.mean < threshold else 1.0
        tost = 0.0 if abs(gap.mean) < abs(threshold) else 1.0
        return Tested(gap, threshold, above, below, tost if threshold else math.nan)
    described = DescrStatsW(values)
    above = float(described.ttest_mean(threshold, alternative="larger")[1])
    below = float(described.ttest_mean(threshold, alternative="smaller")[1])
    tost = float(described.ttost_mean(-abs(threshold), abs(threshold))[0]) if threshold else math.nan
    return Tested(gap, threshold, above, below, tost)


def holm(p_values: Sequence[float], alpha: float = 0.05) -> list[float]:
    """Holm's step-down adjusted p-values (statsmodels.stats.multitest, method "holm"); reject
    where the adjusted value is below `alpha`."""
    from statsmodels.stats.multitest import multipletests

    if not len(p_values):
        return []
    return [float(p) for p in multipletests(list(p_values), alpha=alpha, method="holm")[1]]


def seeds_needed(mean: float, std: float, threshold: float, alpha: float, cap: int = 200) -> int | None:
    """The fewest pairs at which a one-sided t-test at level `alpha` would put this observed mean
    on its side of `threshold`, were the mean and the paired std to stay as observed; None when it
    would take more than `cap` (the mean sits on the threshold)."""
    distance = abs(mean - threshold)
    if distance == 0:
        return None
    if std == 0:
        return 2
    for n in range(2, cap + 1):
        if distance / (std / math.sqrt(n)) > float(scipy_stats.t.ppf(1 - alpha, n - 1)):
            return n
    return None


# --- the values of each cell ----------------------------------------------------------------

def main_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows of each task's matching metric (no-signal rows included), checked."""
    from .tasks import get_task

    missing = [c for c in NEEDED_COLUMNS if c not in rows.columns]
    if missing:
        raise ValueError(f"results rows lack the column(s) {', '.join(missing)} (see ticketlib.results.ROW_COLUMNS)")
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
        self.tasks = sorted(self.rows.loc[self.rows["method"] != NO_SIGNAL_METHOD, "task"].unique()) \
            if len(self.rows) else []

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
        from .tasks import get_task

        return get_task(task).matching_metric


def _stats(values: Mapping[int, float]) -> dict:
    vals = list(values.values())
    return {"mean": float(np.mean(vals)) if vals else math.nan,
            "std": float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0, "seeds": len(vals)}


def seed_stats(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean, std (ddof 1; 0 for one seed) and seeds per task, method, source task and level (the
    cells of the selection rules; the full model at level 0)."""
    cells = Cells(rows)
    out = []
    for task in cells.tasks:
        full, _ = cells.full(task)
        if full:
            out.append({"task": task, "method": "full", "source_task": task, "level": 0, "sparsity": 0.0,
                        "metric": cells.metric(task), **_stats(full)})
        part = cells.rows[(cells.rows["task"] == task) & ~cells.rows["method"].isin(["full", NO_SIGNAL_METHOD])]
        keys = part[["method", "source_task", "level"]].drop_duplicates().sort_values(["method", "source_task",
                                                                                       "level"])
        for method, source, level in keys.itertuples(index=False):
            if method == "imp" and (level == 0 or source != task):
                continue
            values = cells.method(task, method, int(level), source)
            if values:
                out.append({"task": task, "method": method, "source_task": source, "level": int(level),
                            "sparsity": cells.sparsity(task, int(level), method, source),
                            "metric": cells.metric(task), **_stats(values)})
    columns = ["task", "method", "source_task", "level", "sparsity", "metric", "mean", "std", "seeds"]
    return pd.DataFrame(out, columns=columns)


# --- did the task learn? --------------------------------------------------------------------

def no_signal_scores(rows: pd.DataFrame, given: Mapping[str, float] | None = None) -> dict[str, float]:
    """task -> no-signal score of its matching metric: `given` first, then the rows' method
    "no_signal" rows, then the label-free bar of the metric (correlations: 0)."""
    from .metrics import no_signal_score

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


def learned(full: Interval | None, no_signal: float | None, margin: float = MARGIN,
            one_seed_margin: float = ONE_SEED_MARGIN) -> tuple[str, str]:
    """(status, reason) for a full model's interval against the no-signal score (module docstring)."""
    if full is None:
        return NOT_ESTABLISHED, "no full-model result"
    if no_signal is None:
        return NOT_ESTABLISHED, "no no-signal score for this task in the rows"
    bar = no_signal + margin
    if full.has_interval:
        if full.low > bar:
            return LEARNED, (f"the lower end of the full model's {full.confidence:.0%} interval, {full.low:.3f}, is "
                             f"above the no-signal score {no_signal:.3f}" + (f" + {margin}" if margin else ""))
        return NOT_LEARNED, (f"the full model's {full.confidence:.0%} interval [{full.low:.3f}, {full.high:.3f}] "
                             f"reaches the no-signal score {no_signal:.3f}" + (f" + {margin}" if margin else ""))
    if full.mean > no_signal + one_seed_margin:
        return LEARNED, (f"one seed: {full.mean:.3f} clears the no-signal score {no_signal:.3f} by more than "
                         f"{one_seed_margin}")
    if full.mean <= no_signal:
        return NOT_LEARNED, f"one seed: {full.mean:.3f} is at or below the no-signal score {no_signal:.3f}"
    return NOT_ESTABLISHED, (f"one seed: {full.mean:.3f} is above the no-signal score {no_signal:.3f} by less than "
                             f"{one_seed_margin}; more seeds are needed")


def learning(rows: pd.DataFrame, no_signal: Mapping[str, float] | None = None, confidence: float = CONFIDENCE,
             margin: float = MARGIN, one_seed_margin: float = ONE_SEED_MARGIN) -> dict[str, Learning]:
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
        out.append({"task": task, "metric": item.metric, "full mean": full.mean if full else math.nan,
                    "full std": full.std if full else math.nan, "full seeds": full.n if full else 0,
                    "CI low": full.low if full else math.nan, "CI high": full.high if full else math.nan,
                    "no-signal score": item.no_signal if item.no_signal is not None else math.nan,
                    "learned": item.status, "why": item.reason})
    return pd.DataFrame(out, columns=["task", "metric", "full mean", "full std", "full seeds", "CI low", "CI high",
                                      "no-signal score", "learned", "why"])


# --- matching -------------------------------------------------------------------------------

MATCHING_COLUMNS = ["task", "metric", "learned", "full mean", "full std", "full seeds", "sparsities tested",
                    "seeds per sparsity", "highest matching (within 1 std)", "highest matching (>= full)",
                    "highest sparsity within 1 std", "highest sparsity >= full"]


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
        points = [(cells.sparsity(task, k), _stats(cells.imp(task, k))) for k in levels]
        points.sort(key=lambda p: p[0])
        within = [s for s, st in points if matches(st["mean"], item.full.mean, item.full.std, "within_std")]
        strict = [s for s, st in points if matches(st["mean"], item.full.mean, item.full.std, "at_least")]
        out.append({"task": task, "metric": item.metric, "learned": item.status, "full mean": item.full.mean,
                    "full std": item.full.std, "full seeds": item.full.n,
                    "sparsities tested": ", ".join(f"{s:.0%}" for s, _ in points),
                    "seeds per sparsity": ", ".join(str(st["seeds"]) for _, st in points),
                    "highest matching (within 1 std)": _pct(max(within) if within else None),
                    "highest matching (>= full)": _pct(max(strict) if strict else None),
                    "highest sparsity within 1 std": max(within) if within else math.nan,
                    "highest sparsity >= full": max(strict) if strict else math.nan})
    return pd.DataFrame(out, columns=MATCHING_COLUMNS)


# --- paired gaps ----------------------------------------------------------------------------

GAP_COLUMNS = ["task", "level", "sparsity", "comparison", "gap", "CI low", "CI high", "pairs", "IMP mean",
               "other mean"]


def gap_table(rows: pd.DataFrame, confidence: float = CONFIDENCE,
              others: Sequence[str] = GAP_METHODS) -> pd.DataFrame:
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
                out.append({"task": task, "level": level, "sparsity": cells.sparsity(task, level),
                            "comparison": f"IMP - {METHOD_NAMES.get(other, other)}", "method": other,
                            "gap": gap.mean, "CI low": gap.low, "CI high": gap.high, "pairs": gap.n,
                            "IMP mean": float(np.mean(list(imp.values()))),
                            "other mean": float(np.mean(list(values.values())))})
    return pd.DataFrame(out, columns=GAP_COLUMNS + ["method"])


# --- transfer -------------------------------------------------------------------------------

TRANSFER_COLUMNS = ["source", "target", "level", "sparsity", "mean", "std", "seeds", "own ticket mean",
                    "difference", "CI low", "CI high", "pairs", "matching"]


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
        own, full = cells.imp(target, level), _stats(cells.full(target)[0])
        sources = sorted(moved.loc[(moved["task"] == target) & (moved["level"] == level), "source_task"])
        entries = ([(target, own, None)] if own else []) + [
            (s, cells.method(target, "transfer", level, s), None) for s in sources]
        for source, values, _ in entries:
            gap = paired_gap(values, own, confidence) if source != target else None
            st = _stats(values)
            out.append({"source": source, "target": target, "level": level,
                        "sparsity": cells.sparsity(target, level, *(("imp",) if source == target
                                                                    else ("transfer", source))),
                        "mean": st["mean"], "std": st["std"], "seeds": st["seeds"],
                        "own ticket mean": _stats(own)["mean"] if own else math.nan,
                        "difference": 0.0 if source == target else (gap.mean if gap else math.nan),
                        "CI low": gap.low if gap else math.nan, "CI high": gap.high if gap else math.nan,
                        "pairs": st["seeds"] if source == target else (gap.n if gap else 0),
                        "matching": bool(full["seeds"]) and matches(st["mean"], full["mean"], full["std"])})
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
            for b in names[i + 1:]:
                gap = paired_gap(masks[a], masks[b], confidence)
                if gap is not None and gap.has_interval:
                    out.append({"target": target, "level": level, "sparsity": cells.sparsity(target, level),
                                "a": a, "b": b, "gap": gap.mean, "CI low": gap.low, "CI high": gap.high,
                                "pairs": gap.n})
    return pd.DataFrame(out, columns=PAIR_COLUMNS)
