"""The verdict rules, declared before a study runs (`Rules`: a profile's `rules:` section), and
the tested cells they make: one paired comparison (by seed) against a threshold, Holm-adjusted
over its family in both directions, with the seeds that would decide it when undecided. The
matching rule (IMP - full model against -margin) as cells: `matching_cells`. The claims judged
on them: ticketlib.study.claims (whose docstring states every rule)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from enum import Enum
from typing import Mapping, Sequence

from ticketlib.foundations import stats as S
from ticketlib.study import cells as C

PRETRAINING_SOURCES = ("squad-retrieval", "wiki-mlm", "mlm")


class Verdict(str, Enum):
    SUPPORTED = "supported"
    CONTRADICTED = "contradicted"
    UNDECIDED = "undecided"
    NOT_TESTABLE = "not testable"


class Match(str, Enum):
    MATCHING = "matching"
    NOT_MATCHING = "not matching"
    UNDECIDED = "undecided"


@dataclass(frozen=True)
class Rules:
    """Every rule's number, declared in the profile (`rules:`) before the study runs."""

    alpha: float = 0.05  # family-wise error rate of each claim's family (Holm)
    margin: float = 0.01  # the equivalence margin of a metric not listed in `margins`
    margins: Mapping[str, float] = field(
        default_factory=lambda: {
            "accuracy": 0.01,
            "accuracy_at_1": 0.01,
            "f1": 0.01,
            "pearson": 0.01,
            "spearman": 0.01,
            "matthews": 0.01,
        }
    )
    claim1_min_sparsity: float = 0.40
    min_pairs: int = 2
    pretraining_sources: Sequence[str] = PRETRAINING_SOURCES

    @classmethod
    def from_mapping(cls, data: Mapping | None) -> "Rules":
        data = dict(data or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"rules: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        if "margins" in data:
            data["margins"] = {**cls().margins, **data["margins"]}
        rules = cls(**data)
        if not 0 < rules.alpha < 0.5:
            raise ValueError(f"rules.alpha must be in (0, 0.5), got {rules.alpha!r}")
        if any(not m >= 0 for m in (rules.margin, *rules.margins.values())):
            raise ValueError("rules: margins must be >= 0")
        return rules

    def margin_for(self, metric: str) -> float:
        return float(self.margins.get(metric, self.margin))


@dataclass(frozen=True)
class Cell:
    """One tested comparison: `tested` against its threshold, with Holm-adjusted p-values."""

    task: str
    level: int
    sparsity: float
    against: str  # "full" for matching; a method or a source task for gaps
    tested: S.Tested | None  # None: fewer than min_pairs paired seeds
    pairs: int
    p_above: float = math.nan  # adjusted
    p_below: float = math.nan
    result: str = Match.UNDECIDED.value
    seeds_needed: int | None = None
    counted: bool = True
    why_not_counted: str = ""


def tested_pair(
    a: Mapping[int, float], b: Mapping[int, float], threshold: float, rules: Rules
) -> tuple[S.Tested | None, int]:
    shared = sorted(set(a) & set(b))
    if len(shared) < max(2, rules.min_pairs):
        return None, len(shared)
    return S.test_against([a[s] - b[s] for s in shared], threshold, 1 - 2 * rules.alpha), len(shared)


def holm_adjust(cells: list[Cell], rules: Rules, above: str, below: str) -> list[Cell]:
    """Holm over both directions of every counted, tested cell; each cell's result and, when
    undecided, the seeds that would decide it at Holm's strictest level."""
    tested = [c for c in cells if c.counted and c.tested is not None]
    adjusted = S.holm([p for c in tested for p in (c.tested.p_above, c.tested.p_below)], rules.alpha)
    strictest = rules.alpha / max(1, len(adjusted))
    out, i = [], 0
    for cell in cells:
        if not (cell.counted and cell.tested is not None):
            out.append(cell)
            continue
        p_above, p_below = adjusted[i], adjusted[i + 1]
        i += 2
        result = above if p_above < rules.alpha else below if p_below < rules.alpha else Match.UNDECIDED.value
        gap = cell.tested.gap
        needed = (
            S.seeds_needed(gap.mean, gap.std, cell.tested.threshold, strictest)
            if result == Match.UNDECIDED.value
            else None
        )
        out.append(
            Cell(**{**cell.__dict__, "p_above": p_above, "p_below": p_below, "result": result, "seeds_needed": needed})
        )
    return out


def matching_cells(cells: C.Cells, learned: Sequence[str], rules: Rules) -> list[Cell]:
    """IMP - full model at every level of every learned task, one Holm family (module docstring)."""
    out = []
    for task in learned:
        full = cells.full(task)[0]
        margin = rules.margin_for(cells.metric(task))
        for level in cells.imp_levels(task):
            tested, pairs = tested_pair(cells.imp(task, level), full, -margin, rules)
            out.append(
                Cell(
                    task,
                    level,
                    cells.sparsity(task, level),
                    "full",
                    tested,
                    pairs,
                    why_not_counted="" if tested else f"{pairs} paired seed(s)",
                )
            )
    return holm_adjust(out, rules, Match.MATCHING.value, Match.NOT_MATCHING.value)
