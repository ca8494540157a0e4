"""Every metric against values worked out by hand on small cases."""

import math

import pytest

from ticketlib.foundations import metrics as M

PRED = [1, 1, 0, 0, 1]
GOLD = [1, 0, 0, 0, 1]  # TP 2, FP 1, TN 2, FN 0


def test_accuracy_f1_matthews_by_hand():
    assert M.accuracy(PRED, GOLD) == pytest.approx(4 / 5)
    # precision 2/3, recall 1 -> 2 * (2/3) / (5/3)
    assert M.f1(PRED, GOLD) == pytest.approx(0.8)
    # (TP*TN - FP*FN) / sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN)) = 4 / sqrt(3*2*3*2)
    assert M.matthews(PRED, GOLD) == pytest.approx(4 / 6)


def test_pearson_and_spearman_by_hand():
    # dx = (-1, 0, 1), dy = (-7/3, -1/3, 8/3): r = 5 / sqrt(2 * 114/9)
    assert M.pearson([1, 2, 3], [2, 4, 7]) == pytest.approx(5 / math.sqrt(2 * 114 / 9))
    # rank differences (0, 1, 1, 0): rho = 1 - 6 * 2 / (4 * (16 - 1))
    assert M.spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)
    assert M.pearson([1, 1, 1], [1, 2, 3]) == 0.0  # constant prediction: no correlation, not nan


@pytest.mark.parametrize(
    "raw, normal",
    [
        ("The  Quick, Brown fox!", "quick brown fox"),  # article, punctuation, case, whitespace
        ("An apple a day", "apple day"),
        ("  theatre  ", "theatre"),  # 'the' only as a whole word
        ("U.S.-based", "usbased"),
    ],
)
def test_squad_normalisation(raw, normal):
    assert M.normalize_answer(raw) == normal


def test_squad_exact_and_f1_by_hand():
    assert M.squad_exact("the Eiffel Tower", "Eiffel tower.") == 1.0
    # pred {eiffel, tower, in, paris} vs gold {eiffel, tower}: P 1/2, R 1
    assert M.squad_f1("Eiffel Tower in Paris", "the Eiffel Tower") == pytest.approx(2 / 3)
    # counts matter: "cat cat" vs "cat": one common token, P 1/2, R 1
    assert M.squad_f1("the the cat cat", "cat") == pytest.approx(2 / 3)
    assert M.squad_f1("a", "the") == 0.0  # both normalise to nothing


def test_squad_metrics_take_max_over_gold_answers_and_count_missing_as_zero():
    answers = {"q1": ["Denver Broncos", "The Denver Broncos"], "q2": ["Paris", "the Eiffel Tower"], "q3": ["x"]}
    predictions = {"q1": "the denver broncos", "q2": "Eiffel Tower in Paris"}  # q3 unanswered
    scores = M.squad_metrics(predictions, answers)
    # q2: F1 vs "Paris" = 2*(1/4)/(5/4) = 0.4, vs "the Eiffel Tower" = 2/3 -> max 2/3
    assert scores["exact_match"] == pytest.approx(1 / 3)
    assert scores["f1"] == pytest.approx((1 + 2 / 3 + 0) / 3)


def test_mlm_metrics_by_hand():
    scores = M.mlm_metrics(loss_sum=4 * math.log(2), correct=3, count=4)
    assert scores["masked_accuracy"] == 0.75
    assert scores["perplexity"] == pytest.approx(2.0)
    with pytest.raises(ValueError, match="no masked tokens"):
        M.mlm_metrics(0.0, 0, 0)
