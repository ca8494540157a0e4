"""The claims' verdicts in English, for the report and the summary notebook: one compact table
per claim (a row per task), its rule in one line, and the evidence to fold away.
ticketlib.study.claims decides; this module only says.
"""

from __future__ import annotations

import math

from ticketlib.foundations.methods import METHOD_NAMES
from ticketlib.foundations.paper import CLAIMS, PAPER_SAYS, paper_row
from ticketlib.study.claims import ClaimResult, Judgement, TaskVerdict
from ticketlib.study.rules import Cell, Match, Rules, Verdict

CSS = {
    Verdict.SUPPORTED: "supported",
    Verdict.CONTRADICTED: "contradicted",
    Verdict.UNDECIDED: "undecided",
    Verdict.NOT_TESTABLE: "untestable",
}
MARK = {
    Match.MATCHING.value: "matching",
    Match.NOT_MATCHING.value: "not matching",
    "above": "IMP ahead",
    "below": "IMP behind",
    Match.UNDECIDED.value: "undecided",
}


def pct(value: float) -> str:
    return "none" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.0%}"


def cell_text(cell: Cell) -> str:
    """'50%: -0.012 [-0.046, +0.022] undecided (needs 9 seeds)'."""
    if cell.tested is None:
        return f"{pct(cell.sparsity)}: {cell.pairs} paired seed(s), no test" + (
            f" ({cell.why_not_counted})" if cell.why_not_counted and not cell.counted else ""
        )
    gap = cell.tested.gap
    text = f"{pct(cell.sparsity)}: {gap.mean:+.3f} [{gap.low:+.3f}, {gap.high:+.3f}] {MARK[cell.result]}"
    if not cell.counted:
        return (
            f"{pct(cell.sparsity)}: {gap.mean:+.3f} [{gap.low:+.3f}, {gap.high:+.3f}], "
            f"not counted: {cell.why_not_counted}"
        )
    if cell.result == Match.UNDECIDED.value:
        text += f" (needs {cell.seeds_needed} seeds)" if cell.seeds_needed else " (needs over 200 seeds)"
    return text


def needs_text(task: TaskVerdict) -> str:
    if task.verdict != Verdict.UNDECIDED:
        return ""
    if task.seeds_needed:
        return f"about {task.seeds_needed} seeds would decide it"
    return "over 200 seeds would be needed at the observed gap"


def claim_line(claim: ClaimResult) -> str:
    """'supported on 1 of 5 tasks, contradicted on 2, undecided on 2'."""
    judged = [t for t in claim.tasks if t.verdict != Verdict.NOT_TESTABLE]
    noun = "targets" if claim.number == 3 else "tasks"
    if not judged and not claim.tasks:
        return (
            NOT_TESTABLE_WHY.get(claim.note, "no task could be judged")
            if claim.note
            else (f"no {noun[:-1]} could be judged")
        )
    if judged:
        parts = [f"supported on {claim.count(Verdict.SUPPORTED)} of {len(judged)} {noun}"]
        parts += [f"{v.value} on {claim.count(v)}" for v in (Verdict.CONTRADICTED, Verdict.UNDECIDED) if claim.count(v)]
    else:  # every target had a reason of its own (too few paired seeds, ...)
        reasons = sorted({NOT_TESTABLE_WHY.get(t.note, t.note) for t in claim.tasks})
        parts = [f"no {noun[:-1]} could be judged ({'; '.join(reasons)})"]
    untestable = claim.count(Verdict.NOT_TESTABLE)
    line = ", ".join(parts) + (f"; not testable on {untestable}" if untestable and judged else "")
    if claim.number == 3 and claim.note in GATE_WHY:  # tested, but not a ticket's transfer
        line += f"; {GATE_WHY[claim.note]}, so this tests the source's pruned mask at its lowest pruned level"
    return line


NOT_TESTABLE_WHY = {
    "no_learned_task": "no task learned, so none is counted",
    "no_source": "no transfer rows from a pre-training objective",
    "source_not_learned": "the pre-training objective's task did not learn",
    "source_no_pruned_level": "the pre-training objective's IMP run has no pruned level",
    "no_transfer_at_ticket_level": "the source's mask was not transferred at the sparsity the rule picks",
    "below_min_sparsity": "IMP not evaluated at the claim's sparsities",
    "too_few_pairs": "too few paired seeds for a test",
    "no_counted_gap": "no gap counts (the ticket did not learn, or too few paired seeds)",
    "baseline_missing": "every gap is above 0, but a baseline was never compared",
}


# Claim 3's source gate when it fails: no reason for "not testable" (the test still runs, at the
# source's lowest pruned level), but a qualifier of the claim's line.
GATE_WHY = {
    "source_not_a_ticket": "the source mask is not a ticket (the pre-training objective's own IMP ticket matches "
    "at no sparsity tested)",
    "source_too_few_seeds": "the pre-training objective's own ticket has too few seeds to test whether it is a ticket",
}


def rule_line(number: int, rules: Rules) -> str:
    a, ci = rules.alpha, f"{1 - 2 * rules.alpha:.0%}"
    margins = ", ".join(f"{k} {v:g}" for k, v in sorted(rules.margins.items()))
    if number == 1:
        return (
            f"Per task: matching when IMP - full (paired by seed) is above -margin ({margins}) by a one-sided "
            f"t-test at {a:g}, Holm across tasks x levels ({ci} intervals shown); supported when it matches at "
            f">= {rules.claim1_min_sparsity:.0%}, contradicted when not matching at every level >= "
            f"{rules.claim1_min_sparsity:.0%}."
        )
    if number == 2:
        return (
            f"Per task, at every level where the IMP ticket learned: IMP - random pruning and IMP - random "
            f"re-init (paired) above 0 by a one-sided t-test at {a:g}, Holm across tasks x levels x baselines "
            f"({ci} intervals); supported when every gap is above 0, contradicted when one is below."
        )
    return (
        f"At the highest sparsity where the pre-training source's own ticket matches (the claim-1 rule): per "
        f"target, its mask matching on the target (as claim 1) and no other source's mask ahead of it (paired "
        f"differences, one-sided at {a:g}, Holm); where the source's ticket matches at no sparsity, at its "
        f"lowest pruned level, and the verdict says the source mask is not a ticket there."
    )


def _task_cells(task: TaskVerdict) -> list[str]:
    return [cell_text(c) for c in task.cells]


def claim1_rows(judgement: Judgement) -> list[dict]:
    table = judgement.matching.set_index("task") if len(judgement.matching) else None
    rows = []
    for task in judgement.claims[0].tasks:
        paper = paper_row(task.task)
        row = table.loc[task.task] if table is not None and task.task in table.index else None
        full = judgement.learning[task.task].full
        rows.append(
            {
                "task": task.task,
                "verdict": task.verdict.value,
                "css": CSS[task.verdict],
                "full": f"{full.mean:.3f} ± {full.std:.3f} (n = {full.n})",
                "cells": _task_cells(task),
                "needs": needs_text(task) or NOT_TESTABLE_WHY.get(task.note, ""),
                "equivalence": pct(
                    max((c.sparsity for c in task.cells if c.result == Match.MATCHING.value), default=math.nan)
                ),
                "std": row["highest matching (within 1 std)"] if row is not None else "",
                "at_least": row["highest matching (>= full)"] if row is not None else "",
                "paper": f"{paper[0].task}: {pct(paper[0].table2)} / {pct(paper[0].table4)}" if paper else "",
            }
        )
    return rows


def claim2_rows(judgement: Judgement) -> list[dict]:
    rows = []
    for task in judgement.claims[1].tasks:
        by_method = {}
        for cell in task.cells:
            by_method.setdefault(cell.against, []).append(cell_text(cell))
        rows.append(
            {
                "task": task.task,
                "verdict": task.verdict.value,
                "css": CSS[task.verdict],
                "columns": [(METHOD_NAMES.get(m, m), lines) for m, lines in by_method.items()],
                "needs": needs_text(task) or NOT_TESTABLE_WHY.get(task.note, ""),
            }
        )
    return rows


def claim3_rows(judgement: Judgement) -> list[dict]:
    claim = judgement.claims[2]
    rows = []
    for task in claim.tasks:
        full = [cell_text(c) for c in task.cells if c.against == "full"]
        others = [f"- {c.against}: {cell_text(c)}" for c in task.cells if c.against != "full"]
        rows.append(
            {
                "task": task.task,
                "verdict": task.verdict.value,
                "css": CSS[task.verdict],
                "full": full,
                "others": others,
                "needs": needs_text(task) or NOT_TESTABLE_WHY.get(task.note, ""),
            }
        )
    return rows


def source_line(claim: ClaimResult) -> str:
    """Claim 3: the source's own ticket, level by level (why it is or is not a ticket)."""
    if not claim.source:
        return ""
    cells = "; ".join(cell_text(c) for c in claim.source_cells) or "no IMP level evaluated"
    tested = next((c for c in claim.source_cells if c.level == claim.level), None)
    at = f" Transfer tested at its {pct(tested.sparsity)} mask (level {tested.level})." if tested else ""
    return f"{claim.source}'s own ticket against its full model: {cells}.{at}"


def claims_context(judgement: Judgement) -> list[dict]:
    """The template's claims: verdict, one line, the rule, the table rows, the paper's line."""
    out = []
    rows = {1: claim1_rows, 2: claim2_rows, 3: claim3_rows}
    for claim in judgement.claims:
        out.append(
            {
                "number": claim.number,
                "statement": CLAIMS[claim.number],
                "paper": PAPER_SAYS[claim.number],
                "verdict": claim.verdict.value,
                "css": CSS[claim.verdict],
                "line": claim_line(claim),
                "rule": rule_line(claim.number, judgement.rules),
                "rows": rows[claim.number](judgement),
                "source": source_line(claim) if claim.number == 3 else "",
                "not_counted": [f"{t}: {why}" for t, why in claim.not_counted.items()],
            }
        )
    return out


def overlap_text(overlaps) -> str:
    """The masks' overlaps (ticketlib.study.overlap rows) in one sentence: ranges, not a table."""
    from ticketlib.study.overlap import THETA0

    if not len(overlaps):
        return ""
    theta0 = overlaps[overlaps["source_task"] == THETA0]["value"]
    tasks = overlaps[overlaps["source_task"] != THETA0]["value"]
    parts = []
    if len(theta0):
        parts.append(
            f"each task's ticket shares {theta0.min():.3f}-{theta0.max():.3f} of its pruned weights "
            f"(Jaccard) with the one-shot magnitude mask of theta_0 at the same sparsity"
        )
    if len(tasks):
        parts.append(f"the tasks' tickets share {tasks.min():.3f}-{tasks.max():.3f} with each other")
    return "At the summary's level, " + "; ".join(parts) + "."


def overlap_sentence(pairs) -> str:
    """What the transfer test can tell apart, decided by the numbers: `pairs` is
    stats.source_pair_gaps (paired differences between two masks on one target)."""
    if not len(pairs):
        return "No target received two masks, so nothing says whether the masks can be told apart."
    apart = int((~((pairs["CI low"] <= 0) & (pairs["CI high"] >= 0))).sum())
    total = len(pairs)
    if apart == 0 and total == 1:
        return (
            "The one paired difference between two masks on the same target has an interval that includes 0: "
            "at this budget and seed count the transfer test cannot tell the two masks apart."
        )
    if apart == 0:
        return (
            f"None of the {total} paired differences between two masks on the same target has an interval "
            f"that excludes 0: at this budget and seed count the transfer test cannot tell these masks apart, so "
            f"a ranking of sources would be noise."
        )
    return (
        f"{apart} of the {total} paired differences between two masks on the same target have an interval that "
        f"excludes 0 (before correction): the transfer test tells some masks apart; the others are within noise."
    )
