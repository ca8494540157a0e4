"""ticketlib.study.claims: each verdict as a value, flipping where the numbers cross its rule
(hand-written rows, hand-computed tests; no training)."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from report_fixtures import SPARSITY, row, study_rows

from ticketlib.foundations import stats as S
from ticketlib.study import wording as W
from ticketlib.study.claims import judge
from ticketlib.study.rules import Match, Rules, Verdict

FULL = (0.80, 0.81, 0.82)  # rt-sentiment's full model, 3 seeds; no-signal 0.5
LEVEL = 3  # 48.8% sparsity (report_fixtures.SPARSITY): inside claim 1's range


def task_rows(task="rt-sentiment", full=FULL, imp=None, metric="accuracy", no_signal=0.5, **baselines):
    """A task's full model, no-signal rows, IMP at LEVEL as full + `imp` (paired differences), and
    baselines at LEVEL as IMP - `baselines[method]`."""
    imp_values = [f + d for f, d in zip(full, imp or (0.0, 0.001, 0.002))]
    rows = [row("baselines", "full", task, 0, s, v, metric=metric) for s, v in enumerate(full)]
    rows += [row("baselines", "no_signal", task, 0, 0, no_signal, metric=metric)]
    rows += [row("baselines", "imp", task, LEVEL, s, v, metric=metric) for s, v in enumerate(imp_values)]
    for method, gaps in baselines.items():
        rows += [
            row("baselines", method, task, LEVEL, s, v - g, metric=metric)
            for s, (v, g) in enumerate(zip(imp_values, gaps))
        ]
    return rows


def verdicts(rows, **rules):
    judgement = judge(pd.DataFrame(rows), Rules(**rules))
    return judgement, [c.verdict for c in judgement.claims]


# --- claim 1 ----------------------------------------------------------------------------------


def test_claim_1_matching_not_matching_and_undecided_per_task():
    # differences 0, .001, .002 against -0.01: t = 0.011 / (0.001 / sqrt 3) = 19.05, p = 0.001371;
    # Holm over the cell's two hypotheses: 0.002742 < 0.05 -> matching
    judgement, _ = verdicts(task_rows(imp=(0.0, 0.001, 0.002)))
    cell = judgement.match_cells[0]
    t = 0.011 / (0.001 / math.sqrt(3))
    assert cell.p_above == pytest.approx(2 * (0.5 - t / (2 * math.sqrt(t * t + 2))), rel=1e-4)
    assert cell.result == Match.MATCHING.value and cell.sparsity == pytest.approx(0.488)
    assert judgement.claims[0].verdict == Verdict.SUPPORTED
    assert judgement.claims[0].tasks[0].verdict == Verdict.SUPPORTED
    # 5 points below the full model, tightly: not matching -> contradicted
    judgement, _ = verdicts(task_rows(imp=(-0.05, -0.051, -0.052)))
    assert judgement.match_cells[0].result == Match.NOT_MATCHING.value
    assert judgement.claims[0].verdict == Verdict.CONTRADICTED
    # noisy: undecided, with the seeds that would decide it
    judgement, _ = verdicts(task_rows(imp=(0.0, -0.03, 0.01)))
    task = judgement.claims[0].tasks[0]
    assert task.verdict == Verdict.UNDECIDED and judgement.claims[0].verdict == Verdict.UNDECIDED
    gap = judgement.match_cells[0].tested.gap
    assert task.seeds_needed == S.seeds_needed(gap.mean, gap.std, -0.01, 0.05 / 2)


def test_claim_1_flips_at_the_declared_margin():
    tight = task_rows(imp=(-0.05, -0.051, -0.052))  # mean -0.051
    assert verdicts(tight, margins={"accuracy": 0.01})[1][0] == Verdict.CONTRADICTED
    assert verdicts(tight, margins={"accuracy": 0.06})[1][0] == Verdict.SUPPORTED  # -0.051 > -0.06
    assert verdicts(tight, margins={"accuracy": 0.051})[1][0] == Verdict.UNDECIDED  # on the margin


def test_claim_1_holm_takes_the_family_into_account():
    # differences 0.0, 0.004, 0.008 against -0.01: t = 0.014 / (0.004 / sqrt 3) = 6.062, p = 0.01307;
    # alone (2 hypotheses): 0.0261 < 0.05 -> matching; beside 2 other tasks (6 hypotheses): 0.0784 -> undecided
    alone = task_rows(imp=(0.0, 0.004, 0.008))
    assert verdicts(alone)[0].match_cells[0].result == Match.MATCHING.value
    crowd = alone + task_rows("sst2", imp=(0.0, -0.03, 0.01)) + task_rows("squad-qnli", imp=(0.0, -0.03, 0.01))
    cells = {c.task: c for c in verdicts(crowd)[0].match_cells}
    assert cells["rt-sentiment"].result == Match.UNDECIDED.value
    t = 0.014 / (0.004 / math.sqrt(3))
    assert cells["rt-sentiment"].p_above == pytest.approx(6 * (0.5 - t / (2 * math.sqrt(t * t + 2))), rel=1e-4)


def test_claim_1_is_not_testable_below_its_sparsities_or_without_a_learned_task():
    low = [dict(r, level=2, sparsity=0.36) if r["method"] == "imp" else r for r in task_rows()]
    judgement, found = verdicts(low)
    assert found[0] == Verdict.NOT_TESTABLE and judgement.claims[0].tasks[0].note == "below_min_sparsity"
    chance = task_rows(full=(0.50, 0.51, 0.52), no_signal=0.51)
    judgement, found = verdicts(chance)
    assert found == [Verdict.NOT_TESTABLE] * 3 and "rt-sentiment" in judgement.claims[0].not_counted


# --- claim 2 ----------------------------------------------------------------------------------


def test_claim_2_per_task_supported_contradicted_undecided():
    ahead = (0.05, 0.051, 0.052)
    assert verdicts(task_rows(random_pruning=ahead, random_reinit=ahead))[1][1] == Verdict.SUPPORTED
    behind = (-0.05, -0.051, -0.052)
    assert verdicts(task_rows(random_pruning=ahead, random_reinit=behind))[1][1] == Verdict.CONTRADICTED
    noisy = (0.05, -0.03, 0.02)
    judgement, found = verdicts(task_rows(random_pruning=ahead, random_reinit=noisy))
    assert found[1] == Verdict.UNDECIDED and judgement.claims[1].tasks[0].seeds_needed is not None
    # one baseline never compared: not testable, even with every gap above 0
    judgement, found = verdicts(task_rows(random_pruning=ahead))
    assert found[1] == Verdict.NOT_TESTABLE and judgement.claims[1].tasks[0].note == "baseline_missing"


def test_claim_2_counts_only_levels_where_the_ticket_learned():
    # IMP and both baselines collapse to chance (0.5): the gaps are not counted
    collapsed = task_rows(
        imp=(-0.30, -0.31, -0.32), random_pruning=(0.05, 0.051, 0.052), random_reinit=(0.05, 0.051, 0.052)
    )
    judgement, found = verdicts(collapsed)
    assert found[1] == Verdict.NOT_TESTABLE
    assert all(not c.counted and "did not learn" in c.why_not_counted for c in judgement.claims[1].tasks[0].cells)


# --- claim 3 ----------------------------------------------------------------------------------


def transfer_rows(source_gap=(0.0, 0.001, 0.002), other_gap=(-0.05, -0.051, -0.052), source_imp=None):
    """squad-retrieval (the pre-training source) with its own ticket, its mask on rt-sentiment as
    rt-sentiment's full + `source_gap`, and sst2's mask on rt-sentiment as full + `other_gap`."""
    rows = task_rows() + task_rows("sst2")
    rows += task_rows(
        "squad-retrieval", full=(0.85, 0.86, 0.87), imp=source_imp, metric="accuracy_at_1", no_signal=0.002
    )
    rows += [
        row("transfer", "transfer", "rt-sentiment", LEVEL, s, f + d, source="squad-retrieval")
        for s, (f, d) in enumerate(zip(FULL, source_gap))
    ]
    rows += [
        row("transfer", "transfer", "rt-sentiment", LEVEL, s, f + d, source="sst2")
        for s, (f, d) in enumerate(zip(FULL, other_gap))
    ]
    return rows


def test_claim_3_source_that_is_no_ticket_is_tested_at_its_lowest_pruned_level_and_says_so():
    rows = transfer_rows(source_imp=(-0.05, -0.051, -0.052))  # retrieval's own ticket: not matching
    lower = [
        dict(r, level=LEVEL - 1, sparsity=SPARSITY[LEVEL - 1])  # the same rows a level lower
        for r in rows
        if r["method"] in ("imp", "transfer")
    ]
    judgement, found = verdicts(rows + lower)
    claim = judgement.claims[2]
    assert claim.note == "source_not_a_ticket" and claim.source == "squad-retrieval"
    assert claim.level == LEVEL - 1 and [t.level for t in claim.tasks] == [LEVEL - 1]
    assert found[2] == Verdict.SUPPORTED  # the mask transfers there, but it is no ticket:
    assert "the source mask is not a ticket" in W.claim_line(claim)
    assert f"(level {LEVEL - 1})" in W.source_line(claim)
    # one paired seed per target: each target says why it is not judged, and the gate still shows
    one_seed = [r for r in rows + lower if not (r["method"] == "transfer" and r["seed"] > 0)]
    line = W.claim_line(verdicts(one_seed)[0].claims[2])
    assert line.startswith("no target could be judged (too few paired seeds for a test)")
    assert "the source mask is not a ticket" in line
    # with a matching own ticket the gate passes and the note is empty
    assert verdicts(transfer_rows())[0].claims[2].note == ""
    # no transfer at the level the rule picks: not testable, and why
    no_rows = [r for r in rows if not (r["method"] == "transfer")] + [r for r in lower if r["method"] == "imp"]
    judgement, found = verdicts(no_rows)
    assert found[2] == Verdict.NOT_TESTABLE and judgement.claims[2].note == "no_source"
    only_high = rows + [r for r in lower if r["method"] == "imp"]  # transferred at LEVEL, not at LEVEL - 1
    judgement, found = verdicts(only_high)
    assert found[2] == Verdict.NOT_TESTABLE and judgement.claims[2].note == "no_transfer_at_ticket_level"


def test_claim_3_supported_then_contradicted_by_a_better_source_or_a_poor_transfer():
    judgement, found = verdicts(transfer_rows())
    assert found[2] == Verdict.SUPPORTED and judgement.claims[2].tasks[0].level == LEVEL
    beaten = transfer_rows(source_gap=(0.0, 0.001, 0.002), other_gap=(0.05, 0.051, 0.052))
    assert verdicts(beaten)[1][2] == Verdict.CONTRADICTED
    poor = transfer_rows(source_gap=(-0.05, -0.051, -0.052), other_gap=(-0.10, -0.101, -0.102))
    assert verdicts(poor)[1][2] == Verdict.CONTRADICTED
    noisy = transfer_rows(source_gap=(0.0, -0.03, 0.01))
    assert verdicts(noisy)[1][2] == Verdict.UNDECIDED


def test_claim_3_without_transfer_rows():
    judgement, found = verdicts(task_rows())
    assert found[2] == Verdict.NOT_TESTABLE and judgement.claims[2].note == "no_source"


# --- rules and the realistic table -------------------------------------------------------------


def test_rules_are_checked():
    assert Rules.from_mapping({"margins": {"accuracy": 0.02}}).margin_for("accuracy") == 0.02
    assert Rules.from_mapping({}).margin_for("pearson") == 0.01
    assert Rules.from_mapping({"margin": 0.03}).margin_for("exact_match") == 0.03
    with pytest.raises(ValueError, match="unknown key"):
        Rules.from_mapping({"alpah": 0.05})
    with pytest.raises(ValueError, match="alpha"):
        Rules.from_mapping({"alpha": 0.7})


def test_verdicts_on_the_realistic_table():
    judgement = judge(study_rows())
    assert [c.verdict for c in judgement.claims] == [Verdict.UNDECIDED, Verdict.UNDECIDED, Verdict.UNDECIDED]
    assert [t.task for t in judgement.claims[0].tasks] == ["rt-sentiment", "squad-retrieval"]
    assert "squad-qnli" in judgement.claims[0].not_counted  # at chance: never counted
    assert [t.task for t in judgement.claims[1].tasks] == ["rt-sentiment"]  # retrieval ran no baseline
    # retrieval's ticket matches nowhere: its mask is tested at its lowest pruned level, and said so
    assert judgement.claims[2].note == "source_not_a_ticket" and judgement.claims[2].level == 2
