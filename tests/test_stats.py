"""ticketlib.stats against hand-computed numbers: intervals, the matching rule, the learned rule,
transfer differences and the claims' verdicts (hand-written rows, no training)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from ticketlib import stats as S

from report_fixtures import row, study_rows


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
    table = S.matching_table(tiny()).set_index("task").loc["rt-sentiment"]
    assert table["highest matching (within 1 std)"] == "36%" and table["highest sparsity within 1 std"] == 0.36
    assert table["highest matching (>= full)"] == "20%"
    assert table["sparsities tested"] == "20%, 36%, 49%" and table["seeds per sparsity"] == "2, 2, 2"
    # exactly at the edge counts (0.81 - 0.01 = 0.80 in floating point)
    edge = S.matching_table(tiny(full=(0.80, 0.82, 0.81), imp={1: (0.80, 0.80)})).iloc[0]
    assert edge["full std"] == pytest.approx(0.01) and edge["highest matching (within 1 std)"] == "20%"
    none = S.matching_table(tiny(imp={1: (0.5, 0.5)})).iloc[0]
    assert none["highest matching (within 1 std)"] == "none" and math.isnan(none["highest sparsity within 1 std"])
    assert S.matches(0.80, 0.81, 0.01) and not S.matches(0.80, 0.81, 0.01, "at_least")
    with pytest.raises(ValueError):
        S.matches(0.8, 0.8, 0.0, "close")


def test_the_evaluation_with_more_seeds_wins_over_the_search():
    rows = tiny()
    search = [row("find_tickets", "imp", "rt-sentiment", k, 0, 0.1) for k in (0, 1, 2)]
    cells = S.Cells(pd.concat([rows, pd.DataFrame(search)]))
    assert cells.imp("rt-sentiment", 1) == {0: 0.81, 1: 0.81}  # baselines: 2 seeds against 1
    assert cells.full("rt-sentiment")[0] == {0: 0.80, 1: 0.82}
    only_search = S.Cells(pd.DataFrame(search))  # no full-model runs: IMP level 0 is the reference
    assert only_search.full("rt-sentiment") == ({0: 0.1}, "IMP level 0 (the search's unpruned training)")


def test_rows_without_the_schema_fail_early():
    with pytest.raises(ValueError, match="lack the column"):
        S.study(pd.DataFrame({"task": ["rt-sentiment"]}))


# --- learned ----------------------------------------------------------------------------------

def test_a_task_at_chance_did_not_learn_and_is_never_counted():
    study = S.study(study_rows())
    assert study.learning["squad-qnli"].status == S.NOT_LEARNED
    assert study.learning["rt-sentiment"].status == S.LEARNED
    assert study.learning["squad-retrieval"].status == S.LEARNED
    for claim in study.claims[:2]:
        assert any(e.startswith("Not counted: squad-qnli (did not learn") for e in claim.evidence), claim.number
    # squad-qnli "matches" at 36% (IMP at chance like its full model): that must confirm nothing
    rows = tiny(full=(0.50, 0.52, 0.51), imp={4: (0.50, 0.52, 0.51)}, task="squad-qnli")
    assert S.matching_table(rows).iloc[0]["highest matching (within 1 std)"] == "59%"
    claim = S.study(rows).claims[0]
    assert claim.verdict == S.NOT_TESTABLE and claim.reason == "no task learned with a multi-seed full model."


def test_learned_rules_one_seed_and_no_bar():
    one = S.t_interval([0.60])
    assert S.learned(one, 0.50)[0] == S.LEARNED  # clears 0.50 by more than 0.05
    assert S.learned(one, 0.58)[0] == S.NOT_ESTABLISHED
    assert S.learned(one, 0.60)[0] == S.NOT_LEARNED
    assert S.learned(S.t_interval([0.6, 0.7]), 0.5)[0] == S.NOT_LEARNED  # 2 seeds: interval [-0.035, 1.285]
    assert S.learned(S.t_interval([0.6, 0.7]), None) == (S.NOT_ESTABLISHED, "no no-signal score for this task in "
                                                                            "the rows")
    assert S.learned(S.t_interval([0.80, 0.82, 0.81]), 0.50, margin=0.3)[0] == S.NOT_LEARNED


def test_no_signal_scores_given_rows_and_label_free():
    rows = pd.DataFrame([row("find_tickets", "imp", "stsb", 0, 0, 0.8, metric="pearson"),
                         row("find_tickets", "imp", "rt-sentiment", 0, 0, 0.8)])
    assert S.no_signal_scores(rows) == {"stsb": 0.0}  # accuracy needs the labels: not guessed
    assert S.no_signal_scores(rows, {"rt-sentiment": 0.53}) == {"rt-sentiment": 0.53, "stsb": 0.0}
    assert S.no_signal_scores(study_rows())["squad-retrieval"] == pytest.approx(0.002)


# --- gaps, transfer, claims on the realistic table -------------------------------------------

def test_gaps_and_transfer_differences_are_paired_by_seed():
    study = S.study(study_rows())
    gaps = study.gaps.set_index(["task", "level", "method"])
    reinit = gaps.loc[("rt-sentiment", 2, "random_reinit")]  # 0.20, 0.20, 0.22: mean 0.20667, sd 0.011547
    assert reinit["gap"] == pytest.approx(0.2066667, abs=1e-6) and reinit["pairs"] == 3
    assert reinit["CI low"] == pytest.approx(0.2066667 - 4.302653 * 0.0115470 / math.sqrt(3), abs=1e-5)
    transfer = study.transfer.set_index(["source", "target"])
    assert transfer.loc[("squad-retrieval", "rt-sentiment"), "difference"] == pytest.approx(-0.02 / 3)
    assert transfer.loc[("rt-sentiment", "squad-retrieval"), "difference"] == pytest.approx(-0.44 / 3)
    assert transfer.loc[("rt-sentiment", "rt-sentiment"), "difference"] == 0.0  # the own ticket
    assert not transfer.loc[("squad-retrieval", "rt-sentiment"), "matching"]  # 0.7967 < 0.81 - 0.01


def test_omp_is_in_the_gap_table_but_not_in_claim_2():
    rows = study_rows()
    omp = [row("baselines", "omp", "rt-sentiment", 2, s, v) for s, v in enumerate((0.70, 0.72, 0.71))]
    study = S.study(pd.concat([rows, pd.DataFrame(omp)], ignore_index=True))
    imp = S.Cells(rows).imp("rt-sentiment", 2)
    gap = study.gaps.set_index(["task", "level", "method"]).loc[("rt-sentiment", 2, "omp")]
    expected = S.paired_gap(imp, {0: 0.70, 1: 0.72, 2: 0.71})
    assert gap["comparison"] == "IMP - one-shot magnitude pruning" and gap["pairs"] == 3
    assert (gap["gap"], gap["CI low"]) == (pytest.approx(expected.mean), pytest.approx(expected.low))
    assert [c.reason for c in study.claims] == [c.reason for c in S.study(rows).claims]


def test_verdicts_on_the_realistic_table():
    claims = S.study(study_rows()).claims
    assert [c.verdict for c in claims] == [S.NOT_CONFIRMED, S.NOT_CONFIRMED, S.NOT_CONFIRMED]
    assert claims[0].reason == "IMP was evaluated at >= 40% on rt-sentiment and matched at none of those sparsities."
    assert claims[1].reason == ("the 95% interval of the paired gap reaches 0 or below for IMP - random pruning on "
                                "rt-sentiment at 20%.")
    assert claims[2].reason == "the squad-retrieval mask is not matching on rt-sentiment at 36%."
    assert any("paper (SST-2): 60%" in e for e in claims[0].evidence)


def _replace(rows, method, task, level, values, source=None):
    keep = ~((rows["method"] == method) & (rows["task"] == task) & (rows["level"] == level)
             & (rows["source_task"] == (source or task)))
    metric = rows.loc[rows["task"] == task, "metric"].iloc[0]
    new = [row("x", method, task, level, s, v, source=source, metric=metric) for s, v in enumerate(values)]
    return pd.concat([rows[keep], pd.DataFrame(new)], ignore_index=True)


def test_verdicts_change_with_the_numbers():
    rows = study_rows()
    # IMP matching at 59%: claim 1 confirmed
    confirmed = S.study(_replace(rows, "imp", "rt-sentiment", 4, (0.80, 0.81, 0.80))).claims[0]
    assert confirmed.verdict == S.CONFIRMED and confirmed.reason == "IMP matches at >= 40% on rt-sentiment at 59%."
    # without the 20% random pruning (whose gap includes 0), every counted gap is above 0
    no20 = rows[~((rows["method"] == "random_pruning") & (rows["level"] == 1))]
    claim2 = S.study(no20).claims[1]
    assert claim2.verdict == S.CONFIRMED
    assert claim2.reason == ("all 2 paired gaps at the sparsities where the IMP ticket is matching have their 95% "
                             "interval above 0.")
    no_reinit = S.study(no20[no20["method"] != "random_reinit"]).claims[1]
    assert no_reinit.verdict == S.NOT_TESTABLE and "random re-init was never compared" in no_reinit.reason
    # the retrieval mask matching on rt-sentiment and losing less than the rt-sentiment mask: claim 3 confirmed
    good = _replace(rows, "transfer", "rt-sentiment", 2, (0.81, 0.81, 0.80), source="squad-retrieval")
    # compared on the same target only: rt-sentiment's mask went to squad-retrieval, not to rt-sentiment
    alone = S.study(good).claims[2]
    assert alone.verdict == S.NOT_TESTABLE and "to the same targets" in alone.reason, alone.reason
    # a learned downstream task (sst2) whose mask also went to rt-sentiment, and lost more there
    sst2 = [row("find_tickets", "imp", "sst2", 0, s, v) for s, v in enumerate((0.85, 0.86, 0.87))]
    sst2 += [row("find_tickets", "no_signal", "sst2", 0, 0, 0.51)]
    worse = [row("transfer", "transfer", "rt-sentiment", 2, s, v, source="sst2") for s, v in enumerate((0.78, 0.79, 0.78))]
    with_sst2 = pd.concat([good, pd.DataFrame(sst2 + worse)], ignore_index=True)
    claim3 = S.study(with_sst2).claims[2]
    assert claim3.verdict == S.CONFIRMED, claim3.reason
    assert any(e.startswith("On rt-sentiment, difference from its own ticket: squad-retrieval +0.003; sst2 -0.020.")
               for e in claim3.evidence), claim3.evidence
    better = _replace(with_sst2, "transfer", "rt-sentiment", 2, (0.82, 0.82, 0.81), source="sst2")
    beaten = S.study(better).claims[2]
    assert beaten.verdict == S.NOT_CONFIRMED and "sst2 on rt-sentiment (+0.013 against +0.003)" in beaten.reason
    assert S.study(rows[rows["method"] != "transfer"]).claims[2].reason.startswith("no transfer rows")
    chance = _replace(_replace(rows, "imp", "squad-retrieval", 0, (0.002, 0.004, 0.003)), "no_signal",
                      "squad-retrieval", 0, (0.003,))
    assert S.study(chance).claims[2].reason.startswith("the pre-training objective's task squad-retrieval: "
                                                       "did not learn")


def test_empty_rows_give_empty_tables_and_untestable_claims():
    study = S.study(study_rows().iloc[:0])
    assert study.matching.empty and list(study.matching.columns) == S.MATCHING_COLUMNS
    assert [c.verdict for c in study.claims] == [S.NOT_TESTABLE] * 3
