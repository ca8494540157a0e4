"""The paper's three claims judged by rules declared before a study runs (docs/method.md,
"Verdicts"): values only; ticketlib.study.wording says them in English.

Rules (`Rules` in ticketlib.study.rules, from a profile's `rules:` section, with its defaults)
  Matching (a task at a level): IMP - full model, paired by seed, tested against -margin (the
  metric's declared margin) in both directions with one-sided t-tests, Holm-corrected across
  the task x level family: MATCHING when "IMP - full <= -margin" is rejected (the first of the
  two one-sided tests of TOST; a ticket above the full model also matches, as in the paper's
  ">= full"), NOT_MATCHING when "IMP - full >= -margin" is rejected, else UNDECIDED.
  Claim 1, per learned task: SUPPORTED when IMP matches at some sparsity >= 40%; CONTRADICTED
    when it is not matching at every sparsity >= 40% tested; UNDECIDED otherwise; NOT_TESTABLE
    when IMP was not evaluated at >= 40%.
  Claim 2, per learned task, at every level where the IMP ticket learned (the lower end of its
    interval above the no-signal score): IMP - random pruning and IMP - random re-init, paired,
    tested against 0 both ways, Holm across the task x level x baseline family. SUPPORTED when
    every gap is above 0 and both baselines were compared; CONTRADICTED when a gap is below 0;
    UNDECIDED otherwise; NOT_TESTABLE when no gap counts.
  Claim 3: the source P is the first pre-training objective with transfer rows. The test is at
    the highest level L where P's own ticket matches on P (the claim-1 rule); where it matches at
    none, at P's lowest pruned level, and the claim's note says the source mask is not a ticket
    there (the verdict then speaks of a pruned mask, not of a ticket). Per learned
    target T: P's mask on T against T's full model (the matching rule, Holm across targets), and
    P's mask minus every other source's mask on T, paired by seed, both ways, Holm. SUPPORTED on
    T when P's mask matches on T and no other source beats it; CONTRADICTED when it is not
    matching or another source beats it; UNDECIDED otherwise.
  A claim: SUPPORTED when it is supported on every counted task, CONTRADICTED when contradicted
  on one, UNDECIDED otherwise, NOT_TESTABLE when no task counts. An undecided task says how many
  seeds would decide it: the fewest at which its closest cell would be decided at Holm's
  strictest level (alpha / family size), were its mean and paired std to stay as observed, each
  undecided cell headed the way its mean lies.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import pandas as pd

from ticketlib.foundations import stats as S
from ticketlib.foundations.methods import CLAIM2_BASELINES
from ticketlib.study import cells as C
from ticketlib.study import tables as T
from ticketlib.study.rules import (
    PRETRAINING_SOURCES,
    Cell,
    Match,
    Rules,
    Verdict,
    holm_adjust,
    matching_cells,
    tested_pair,
)

# --- claims ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskVerdict:
    task: str
    verdict: Verdict
    cells: list[Cell]
    seeds_needed: int | None = None  # for an undecided task: what would decide it
    note: str = ""  # a short reason code for the wording (e.g. "below_min_sparsity")
    level: int | None = None  # claim 3: the level tested


@dataclass(frozen=True)
class ClaimResult:
    number: int
    verdict: Verdict
    tasks: list[TaskVerdict]
    not_counted: dict[str, str]  # task -> why (did not learn, ...)
    note: str = ""  # claim-level reason code: why NOT_TESTABLE, or (claim 3) why its source is no ticket
    source: str | None = None  # claim 3's pre-training objective
    source_cells: list[Cell] = field(default_factory=list)  # claim 3: the source's own matching cells
    level: int | None = None  # claim 3: the source's level the transfer is tested at

    def count(self, verdict: Verdict) -> int:
        return sum(t.verdict == verdict for t in self.tasks)


def overall(tasks: Sequence[TaskVerdict]) -> Verdict:
    judged = [t.verdict for t in tasks if t.verdict != Verdict.NOT_TESTABLE]
    if not judged:
        return Verdict.NOT_TESTABLE
    if all(v == Verdict.SUPPORTED for v in judged):
        return Verdict.SUPPORTED
    if Verdict.CONTRADICTED in judged:
        return Verdict.CONTRADICTED
    return Verdict.UNDECIDED


def _seeds_to_decide(cells: Sequence[Cell], one_decides: str, all_decide: str) -> int | None:
    """The seeds that would decide a task whose verdict takes one cell turning `one_decides`, or
    every undecided cell turning `all_decide`: each undecided cell is headed the way its mean
    lies; None when neither way is reachable within seeds_needed's cap."""
    open_ = [c for c in cells if c.result == Match.UNDECIDED.value and c.tested is not None]
    headed = {id(c): "above" if c.tested.gap.mean > c.tested.threshold else "below" for c in open_}
    up = one_decides in (Match.MATCHING.value, "above")
    one = [c.seeds_needed for c in open_ if (headed[id(c)] == "above") == up and c.seeds_needed]
    options = [min(one)] if one else []
    if open_ and all((headed[id(c)] == "above") != up for c in open_):
        needs = [c.seeds_needed for c in open_]
        if None not in needs:
            options.append(max(needs))
    return min(options, default=None)


def claim_1(match: list[Cell], learned: Sequence[str], not_counted: dict[str, str], rules: Rules) -> ClaimResult:
    reach = rules.claim1_min_sparsity - C.SPARSITY_TOLERANCE
    tasks = []
    for task in learned:
        mine = [c for c in match if c.task == task]
        high = [c for c in mine if c.sparsity >= reach and c.tested is not None]
        if not high:
            tasks.append(
                TaskVerdict(
                    task,
                    Verdict.NOT_TESTABLE,
                    mine,
                    note="below_min_sparsity" if not any(c.sparsity >= reach for c in mine) else "too_few_pairs",
                )
            )
        elif any(c.result == Match.MATCHING.value for c in high):
            tasks.append(TaskVerdict(task, Verdict.SUPPORTED, mine))
        elif all(c.result == Match.NOT_MATCHING.value for c in high):
            tasks.append(TaskVerdict(task, Verdict.CONTRADICTED, mine))
        else:
            tasks.append(
                TaskVerdict(
                    task,
                    Verdict.UNDECIDED,
                    mine,
                    _seeds_to_decide(high, Match.MATCHING.value, Match.NOT_MATCHING.value),
                )
            )
    return ClaimResult(1, overall(tasks), tasks, not_counted, note="" if learned else "no_learned_task")


def imp_learned(cells: C.Cells, task: str, level: int, no_signal: float | None, confidence: float) -> bool:
    """The IMP ticket at this level learned: the lower end of its interval is above the no-signal score."""
    values = list(cells.imp(task, level).values())
    if no_signal is None or len(values) < 2:
        return False
    return S.t_interval(values, confidence).low > no_signal


def claim_2(
    cells: C.Cells,
    learned: Sequence[str],
    not_counted: dict[str, str],
    no_signal: Mapping[str, float],
    rules: Rules,
    baselines: Sequence[str] = CLAIM2_BASELINES,
) -> ClaimResult:
    out = []
    for task in learned:
        for level in cells.imp_levels(task):
            ticket_learned = imp_learned(cells, task, level, no_signal.get(task), 1 - 2 * rules.alpha)
            for method in baselines:
                other = cells.method(task, method, level)
                if not other:
                    continue
                tested, pairs = tested_pair(cells.imp(task, level), other, 0.0, rules)
                why = ("" if ticket_learned else "the IMP ticket did not learn at this level") or (
                    "" if tested else f"{pairs} paired seed(s)"
                )
                out.append(
                    Cell(
                        task,
                        level,
                        cells.sparsity(task, level),
                        method,
                        tested,
                        pairs,
                        counted=ticket_learned,
                        why_not_counted=why,
                    )
                )
    gaps = holm_adjust(out, rules, "above", "below")
    tasks = []
    for task in learned:
        mine = [c for c in gaps if c.task == task]
        if not mine:  # no baseline ran on this task: not part of claim 2's study
            continue
        counted = [c for c in mine if c.counted and c.tested is not None]
        compared = {c.against for c in counted}
        if not counted:
            tasks.append(TaskVerdict(task, Verdict.NOT_TESTABLE, mine, note="no_counted_gap"))
        elif any(c.result == "below" for c in counted):
            tasks.append(TaskVerdict(task, Verdict.CONTRADICTED, mine))
        elif all(c.result == "above" for c in counted) and compared >= set(baselines):
            tasks.append(TaskVerdict(task, Verdict.SUPPORTED, mine))
        elif all(c.result == "above" for c in counted):
            tasks.append(TaskVerdict(task, Verdict.NOT_TESTABLE, mine, note="baseline_missing"))
        else:
            tasks.append(TaskVerdict(task, Verdict.UNDECIDED, mine, _seeds_to_decide(counted, "below", "above")))
    return ClaimResult(2, overall(tasks), tasks, not_counted, note="" if learned else "no_learned_task")


def pretraining_source(rows: pd.DataFrame, sources: Sequence[str] = PRETRAINING_SOURCES) -> str | None:
    """The first of `sources` that is a transfer source in the rows."""
    r = C.Cells(rows).rows
    present = set(r.loc[r["method"] == "transfer", "source_task"]) if len(r) else set()
    return next((s for s in sources if s in present), None)


def _transfer_sources(cells: C.Cells, target: str, level: int) -> list[str]:
    r = cells.rows
    part = r[(r["method"] == "transfer") & (r["task"] == target) & (r["level"] == level)]
    return sorted(part["source_task"].unique())


def claim_3(
    cells: C.Cells,
    match: list[Cell],
    learned: Sequence[str],
    not_counted: dict[str, str],
    source: str | None,
    rules: Rules,
) -> ClaimResult:
    if source is None:
        return ClaimResult(3, Verdict.NOT_TESTABLE, [], not_counted, note="no_source")
    own = [c for c in match if c.task == source]
    if source not in learned:
        return ClaimResult(3, Verdict.NOT_TESTABLE, [], not_counted, "source_not_learned", source, own)
    if not own:
        return ClaimResult(3, Verdict.NOT_TESTABLE, [], not_counted, "source_no_pruned_level", source, own)
    ticket_levels = [c.level for c in own if c.result == Match.MATCHING.value]
    gate = (
        ""
        if ticket_levels
        else ("source_too_few_seeds" if all(c.tested is None for c in own) else "source_not_a_ticket")
    )
    level = max(ticket_levels) if ticket_levels else min(c.level for c in own)  # else its lowest pruned level
    targets = [t for t in learned if t != source and source in _transfer_sources(cells, t, level)]
    if not targets:
        return ClaimResult(3, Verdict.NOT_TESTABLE, [], not_counted, "no_transfer_at_ticket_level", source, own, level)
    cells_out = []
    for target in targets:
        mine = cells.method(target, "transfer", level, source)
        margin = rules.margin_for(cells.metric(target))
        tested, pairs = tested_pair(mine, cells.full(target)[0], -margin, rules)
        cells_out.append(Cell(target, level, cells.sparsity(target, level, "transfer", source), "full", tested, pairs))
        for other in _transfer_sources(cells, target, level):
            if other != source and other in learned:
                tested, pairs = tested_pair(mine, cells.method(target, "transfer", level, other), 0.0, rules)
                cells_out.append(
                    Cell(target, level, cells.sparsity(target, level, "transfer", other), other, tested, pairs)
                )
    matched = {id(c) for c in cells_out if c.against == "full"}
    fulls = holm_adjust(
        [c for c in cells_out if id(c) in matched], rules, Match.MATCHING.value, Match.NOT_MATCHING.value
    )
    pairs_ = holm_adjust([c for c in cells_out if id(c) not in matched], rules, "above", "below")
    tasks = []
    for target in targets:
        vs_full = [c for c in fulls if c.task == target]
        vs_others = [c for c in pairs_ if c.task == target]
        mine = vs_full + vs_others
        decided = [c for c in mine if c.tested is not None]
        if not decided or vs_full[0].tested is None:
            tasks.append(TaskVerdict(target, Verdict.NOT_TESTABLE, mine, note="too_few_pairs", level=level))
        elif vs_full[0].result == Match.NOT_MATCHING.value or any(c.result == "below" for c in vs_others):
            tasks.append(TaskVerdict(target, Verdict.CONTRADICTED, mine, level=level))
        elif vs_full[0].result == Match.MATCHING.value:  # matching, and no other source beats it
            tasks.append(TaskVerdict(target, Verdict.SUPPORTED, mine, level=level))
        else:
            tasks.append(
                TaskVerdict(
                    target,
                    Verdict.UNDECIDED,
                    mine,
                    _seeds_to_decide(vs_full, Match.NOT_MATCHING.value, Match.MATCHING.value),
                    level=level,
                )
            )
    return ClaimResult(3, overall(tasks), tasks, not_counted, gate, source, own, level)


# --- the study ------------------------------------------------------------------------------


@dataclass
class Judgement:
    """Everything a report needs, computed once from the tidy rows."""

    rules: Rules
    learning: dict[str, T.Learning]
    seeds: pd.DataFrame
    matching: pd.DataFrame  # the paper's two criteria (Table 2 and 4)
    match_cells: list[Cell]
    gaps: pd.DataFrame
    transfer: pd.DataFrame
    claims: list[ClaimResult]


def judge(rows: pd.DataFrame, rules: Rules | None = None, no_signal: Mapping[str, float] | None = None) -> Judgement:
    """The tables and the three claims' verdicts under `rules` (module docstring)."""
    rules = rules or Rules()
    cells = C.Cells(rows)
    learn = T.learning(rows, no_signal)
    learned = [t for t, item in learn.items() if item.status == T.LEARNED]
    not_counted = {t: f"{item.status}: {item.reason}" for t, item in learn.items() if item.status != T.LEARNED}
    bars = {t: item.no_signal for t, item in learn.items() if item.no_signal is not None}
    match = matching_cells(cells, learned, rules)
    source = pretraining_source(rows, rules.pretraining_sources)
    claims = [
        claim_1(match, learned, not_counted, rules),
        claim_2(cells, learned, not_counted, bars, rules),
        claim_3(cells, match, learned, not_counted, source, rules),
    ]
    return Judgement(
        rules,
        learn,
        C.seed_stats(rows),
        T.matching_table(rows, no_signal),
        match,
        T.gap_table(rows),
        T.transfer_table(rows),
        claims,
    )


def matching_summary(match: Sequence[Cell], task: str) -> float:
    """The highest sparsity at which `task`'s IMP ticket matches by the equivalence rule (NaN: none)."""
    found = [c.sparsity for c in match if c.task == task and c.result == Match.MATCHING.value]
    return max(found) if found else math.nan
