"""Statistics: means with t-intervals, paired gaps, one-sided and equivalence tests, Holm's
adjustment and the seeds a test would need. Pure functions of numbers; the tables built from the
study's rows that use them: ticketlib.study.tables.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
from scipy import stats as scipy_stats

CONFIDENCE = 0.95


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
        return (
            f"{self.mean:+.{digits}f} [{self.confidence:.0%} CI {self.low:+.{digits}f}, "
            f"{self.high:+.{digits}f}], n = {self.n}"
        )


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
        return Interval(
            float(np.mean(list(a.values())) - np.mean(list(b.values()))), math.nan, math.nan, 0, 0.0, confidence
        )
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


def test_against(differences: Sequence[float], threshold: float = 0.0, confidence: float = CONFIDENCE) -> Tested:
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
