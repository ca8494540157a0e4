"""ticketlib.foundations.stats against hand-computed numbers: intervals, the matching rule, the learned rule,
transfer differences and the claims' verdicts (hand-written rows, no training)."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from report_fixtures import row, study_rows

from ticketlib.foundations import stats as S
from ticketlib.study import cells as C
from ticketlib.study import tables as T

# --- intervals: t quantiles from the tables (t_0.975: 12.7062 at 1 df, 4.3027 at 2, 2.7764 at 4)


def test_t_interval_against_hand_computed_values():
    five = S.t_interval([1, 2, 3, 4, 5])  # sd sqrt(2.5); half = 2.776445 * 1.581139 / sqrt(5) = 1.963243
    assert (five.mean, five.n) == (3.0, 5)
    assert five.std == pytest.approx(1.5811388, abs=1e-7)
    assert (five.low, five.high) == (pytest.approx(1.0367568, abs=1e-6), pytest.approx(4.9632432, abs=1e-6))
    two = S.t_interval([0.80, 0.82])  # half = 12.706205 * 0.0141421 / sqrt(2) = 0.1270620
    assert (two.low, two.high) == (pytest.approx(0.6829380, abs=1e-6), pytest.approx(0.9370620, abs=1e-6))
    ninety = S.t_interval([1, 2, 3, 4, 5], confidence=0.90)  # t_0.95 at 4 df = 2.131847
    assert ninety.high - ninety.mean == pytest.approx(2.131847 * math.sqrt(2.5) / math.sqrt(5), abs=1e-6)
    one = S.t_interval([0.7])
    assert one.mean == 0.7 and not one.has_interval and math.isnan(one.low)
    with pytest.raises(ValueError):
        S.t_interval([])
    with pytest.raises(ValueError):
        S.t_interval([1, 2], confidence=1.5)


def test_paired_gap_pairs_by_seed_only():
    imp = {0: 0.80, 1: 0.82, 2: 0.81}
    other = {0: 0.70, 1: 0.71, 2: 0.69, 7: 0.10}  # seed 7 has no partner: left out
    gap = S.paired_gap(imp, other)  # differences 0.10, 0.11, 0.12: sd 0.01, half = 4.302653 * 0.01 / sqrt(3)
    assert gap.n == 3 and gap.mean == pytest.approx(0.11)
    assert (gap.low, gap.high) == (pytest.approx(0.0851586, abs=1e-6), pytest.approx(0.1348414, abs=1e-6))
    unpaired = S.paired_gap({0: 0.8}, {1: 0.6})
    assert unpaired.n == 0 and unpaired.mean == pytest.approx(0.2) and not unpaired.has_interval
    assert S.paired_gap({}, other) is None


# --- matching -------------------------------------------------------------------------------


def tiny(full=(0.80, 0.82), imp=None, task="rt-sentiment"):
    imp = imp or {1: (0.81, 0.81), 2: (0.80, 0.80), 3: (0.79, 0.79)}
    rows = [row("baselines", "full", task, 0, s, v) for s, v in enumerate(full)]
    rows += [row("baselines", "no_signal", task, 0, s, 0.5) for s in range(len(full))]
    rows += [row("baselines", "imp", task, k, s, v) for k, values in imp.items() for s, v in enumerate(values)]
    return pd.DataFrame(rows)


def test_matching_rule_on_a_hand_made_table():
    # full mean 0.81, std 0.01414: 20% (0.81) >= full; 36% (0.80) within 1 std; 48.8% (0.79) neither
    table = T.matching_table(tiny()).set_index("task").loc["rt-sentiment"]
    assert table["highest matching (within 1 std)"] == "36%" and table["highest sparsity within 1 std"] == 0.36
    assert table["highest matching (>= full)"] == "20%"
    assert table["sparsities tested"] == "20%, 36%, 49%" and table["seeds per sparsity"] == "2, 2, 2"
    # exactly at the edge counts (0.81 - 0.01 = 0.80 in floating point)
    edge = T.matching_table(tiny(full=(0.80, 0.82, 0.81), imp={1: (0.80, 0.80)})).iloc[0]
    assert edge["full std"] == pytest.approx(0.01) and edge["highest matching (within 1 std)"] == "20%"
    none = T.matching_table(tiny(imp={1: (0.5, 0.5)})).iloc[0]
    assert none["highest matching (within 1 std)"] == "none" and math.isnan(none["highest sparsity within 1 std"])
    assert T.matches(0.80, 0.81, 0.01) and not T.matches(0.80, 0.81, 0.01, "at_least")
    with pytest.raises(ValueError):
        T.matches(0.8, 0.8, 0.0, "close")


def test_the_evaluation_with_more_seeds_wins_over_the_search():
    rows = tiny()
    search = [row("find_tickets", "imp", "rt-sentiment", k, 0, 0.1) for k in (0, 1, 2)]
    cells = C.Cells(pd.concat([rows, pd.DataFrame(search)]))
    assert cells.imp("rt-sentiment", 1) == {0: 0.81, 1: 0.81}  # baselines: 2 seeds against 1
    assert cells.full("rt-sentiment")[0] == {0: 0.80, 1: 0.82}
    only_search = C.Cells(pd.DataFrame(search))  # no full-model runs: IMP level 0 is the reference
    assert only_search.full("rt-sentiment") == ({0: 0.1}, "IMP level 0 (the search's unpruned training)")


def test_rows_without_the_schema_fail_early():
    with pytest.raises(ValueError, match="lack the column"):
        C.Cells(pd.DataFrame({"task": ["rt-sentiment"]}))


# --- learned ----------------------------------------------------------------------------------


def test_a_task_at_chance_did_not_learn():
    learning = T.learning(study_rows())
    assert learning["squad-qnli"].status == T.NOT_LEARNED
    assert learning["rt-sentiment"].status == T.LEARNED
    assert learning["squad-retrieval"].status == T.LEARNED


def test_learned_rules_one_seed_and_no_bar():
    one = S.t_interval([0.60])
    assert T.learned(one, 0.50)[0] == T.LEARNED  # clears 0.50 by more than 0.05
    assert T.learned(one, 0.58)[0] == T.NOT_ESTABLISHED
    assert T.learned(one, 0.60)[0] == T.NOT_LEARNED
    assert T.learned(S.t_interval([0.6, 0.7]), 0.5)[0] == T.NOT_LEARNED  # 2 seeds: interval [-0.035, 1.285]
    assert T.learned(S.t_interval([0.6, 0.7]), None)[0] == T.NOT_ESTABLISHED
    assert T.learned(S.t_interval([0.80, 0.82, 0.81]), 0.50, margin=0.3)[0] == T.NOT_LEARNED


def test_no_signal_scores_given_rows_and_label_free():
    rows = pd.DataFrame(
        [
            row("find_tickets", "imp", "stsb", 0, 0, 0.8, metric="pearson"),
            row("find_tickets", "imp", "rt-sentiment", 0, 0, 0.8),
        ]
    )
    assert T.no_signal_scores(rows) == {"stsb": 0.0}  # accuracy needs the labels: not guessed
    assert T.no_signal_scores(rows, {"rt-sentiment": 0.53}) == {"rt-sentiment": 0.53, "stsb": 0.0}
    assert T.no_signal_scores(study_rows())["squad-retrieval"] == pytest.approx(0.002)


# --- gaps and transfer on the realistic table ------------------------------------------------


def test_gaps_and_transfer_differences_are_paired_by_seed():
    rows = study_rows()
    gaps = T.gap_table(rows).set_index(["task", "level", "method"])
    reinit = gaps.loc[("rt-sentiment", 2, "random_reinit")]  # 0.20, 0.20, 0.22: mean 0.20667, sd 0.011547
    assert reinit["gap"] == pytest.approx(0.2066667, abs=1e-6) and reinit["pairs"] == 3
    assert reinit["CI low"] == pytest.approx(0.2066667 - 4.302653 * 0.0115470 / math.sqrt(3), abs=1e-5)
    transfer = T.transfer_table(rows).set_index(["source", "target"])
    assert transfer.loc[("squad-retrieval", "rt-sentiment"), "difference"] == pytest.approx(-0.02 / 3)
    assert transfer.loc[("rt-sentiment", "squad-retrieval"), "difference"] == pytest.approx(-0.44 / 3)
    assert transfer.loc[("rt-sentiment", "rt-sentiment"), "difference"] == 0.0  # the own ticket
    assert not transfer.loc[("squad-retrieval", "rt-sentiment"), "matching"]  # 0.7967 < 0.81 - 0.01


def test_every_registered_baseline_that_ran_is_in_the_gap_table():
    rows = study_rows()
    extra = [
        row("baselines", method, "rt-sentiment", 2, s, v)
        for method in ("omp", "wanda")
        for s, v in enumerate((0.70, 0.72, 0.71))
    ]
    gaps = T.gap_table(pd.concat([rows, pd.DataFrame(extra)], ignore_index=True)).set_index(["task", "level", "method"])
    imp = C.Cells(rows).imp("rt-sentiment", 2)
    expected = S.paired_gap(imp, {0: 0.70, 1: 0.72, 2: 0.71})
    for method, name in (("omp", "IMP - one-shot magnitude pruning"), ("wanda", "IMP - Wanda")):
        gap = gaps.loc[("rt-sentiment", 2, method)]
        assert gap["comparison"] == name and gap["pairs"] == 3
        assert (gap["gap"], gap["CI low"]) == (pytest.approx(expected.mean), pytest.approx(expected.low))


def test_source_pair_gaps_pair_every_two_masks_on_a_target():
    pairs = T.source_pair_gaps(study_rows()).set_index(["target", "a", "b"])
    # on rt-sentiment at 36%: its own ticket (0.80, 0.81, 0.80) and the retrieval mask (0.79, 0.80, 0.80)
    own_minus_moved = pairs.loc[("rt-sentiment", "rt-sentiment", "squad-retrieval")]
    assert own_minus_moved["gap"] == pytest.approx(0.02 / 3) and own_minus_moved["pairs"] == 3


def test_empty_rows_give_empty_tables():
    empty = study_rows().iloc[:0]
    assert T.matching_table(empty).empty and list(T.matching_table(empty).columns) == T.MATCHING_COLUMNS
    assert T.source_pair_gaps(empty).empty


# --- tests against a threshold, Holm, seeds needed (hand-computed; t with 2 df has the closed
# form P(T <= t) = 1/2 + t / (2 sqrt(t^2 + 2))) ----------------------------------------------


def test_one_sided_tests_and_tost_against_hand_computed_values():
    tested = S.test_against([0.01, 0.02, -0.005], -0.01)  # mean 0.008333, sd 0.0125831, se 0.0072648
    t_low = (0.0083333 + 0.01) / 0.0072648  # 2.52357
    assert tested.p_above == pytest.approx(0.5 - t_low / (2 * math.sqrt(t_low**2 + 2)), abs=1e-5)  # 0.063822
    assert tested.p_below == pytest.approx(1 - tested.p_above)
    t_high = (0.0083333 - 0.01) / 0.0072648  # TOST's upper test: H0 mean >= +0.01
    p_high = 0.5 + t_high / (2 * math.sqrt(t_high**2 + 2))  # 0.419936
    assert tested.p_tost == pytest.approx(max(tested.p_above, p_high), abs=1e-5)
    assert tested.gap.n == 3 and tested.gap.confidence == 0.95
    flat = S.test_against([0.02, 0.02], 0.0)  # no spread: the sign decides
    assert (flat.p_above, flat.p_below) == (0.0, 1.0)
    with pytest.raises(ValueError, match="at least 2 pairs"):
        S.test_against([0.1], 0.0)


def test_holm_against_hand_computed_values():
    # sorted 0.01, 0.03, 0.04: 3 x 0.01 = 0.03; 2 x 0.03 = 0.06; 1 x 0.04 -> max(0.06, 0.04) = 0.06
    assert S.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert S.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert S.holm([]) == []


def test_seeds_needed_against_the_t_table():
    # mean 0.05, std 0.05: t = sqrt(n) against t_0.95: n=4 2.000 < 2.353; n=5 2.236 > 2.132
    assert S.seeds_needed(0.05, 0.05, 0.0, 0.05) == 5
    assert S.seeds_needed(-0.01, 0.05, -0.01, 0.05) is None  # on the threshold: never
    assert S.seeds_needed(0.0001, 1.0, 0.0, 0.05) is None  # beyond the cap
    assert S.seeds_needed(0.1, 0.0, 0.0, 0.05) == 2
