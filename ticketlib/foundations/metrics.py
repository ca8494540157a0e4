"""Task metrics, all as fractions in [0, 1] (SQuAD too: the official script's 100x is dropped),
except perplexity.

GLUE metrics come from scikit-learn / scipy; SQuAD follows the official v1.1 evaluation
script (answer normalisation, token-level F1, max over the gold answers); MLM metrics are
computed over masked positions only (labels != -100); retrieval ranks every candidate for
each query (accuracy@1 and mean reciprocal rank, ties counted against the query).

`no_signal_score` is the score of a model that ignores its input, the bar a task must clear
to count as learned.
"""

from __future__ import annotations

import collections
import math
import re
import string
from typing import Callable, Mapping, Sequence

import numpy as np
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef


def accuracy(predictions: Sequence[int], labels: Sequence[int]) -> float:
    return float(accuracy_score(labels, predictions))


def f1(predictions: Sequence[int], labels: Sequence[int]) -> float:
    """Binary F1 of the positive class (label 1), as GLUE reports for MRPC and QQP."""
    return float(f1_score(labels, predictions, pos_label=1, average="binary", zero_division=0))


def matthews(predictions: Sequence[int], labels: Sequence[int]) -> float:
    return float(matthews_corrcoef(labels, predictions))


def pearson(predictions: Sequence[float], labels: Sequence[float]) -> float:
    # A constant prediction has no correlation; report 0 rather than scipy's nan + warning.
    if np.std(predictions) == 0 or np.std(labels) == 0:
        return 0.0
    return float(pearsonr(predictions, labels)[0])


def spearman(predictions: Sequence[float], labels: Sequence[float]) -> float:
    if np.std(predictions) == 0 or np.std(labels) == 0:
        return 0.0
    return float(spearmanr(predictions, labels)[0])


# Metrics on model outputs: name -> function(predictions, labels).
CLASSIFICATION_METRICS: dict[str, Callable] = {
    "accuracy": accuracy,
    "f1": f1,
    "matthews": matthews,
    "pearson": pearson,
    "spearman": spearman,
}


# --- SQuAD v1.1 (official evaluation script semantics) ---


def normalize_answer(text: str) -> str:
    """Lower case, drop punctuation, drop the articles a/an/the, collapse whitespace."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def squad_exact(prediction: str, truth: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(truth))


def squad_f1(prediction: str, truth: str) -> float:
    """Token-level F1 between the normalised answers (bag of tokens with counts)."""
    predicted, gold = normalize_answer(prediction).split(), normalize_answer(truth).split()
    common = collections.Counter(predicted) & collections.Counter(gold)
    overlap = sum(common.values())
    if overlap == 0:
        return 0.0
    precision, recall = overlap / len(predicted), overlap / len(gold)
    return 2 * precision * recall / (precision + recall)


def squad_metrics(predictions: Mapping[str, str], answers: Mapping[str, Sequence[str]]) -> dict[str, float]:
    """Mean over questions of the best EM and F1 against any gold answer.

    A question without a prediction scores 0, as in the official script.
    """
    if not answers:
        raise ValueError("no gold answers to score against")
    exact = f1_total = 0.0
    for qid, golds in answers.items():
        if not golds:
            raise ValueError(f"question {qid!r} has no gold answer")
        if qid not in predictions:
            continue
        exact += max(squad_exact(predictions[qid], g) for g in golds)
        f1_total += max(squad_f1(predictions[qid], g) for g in golds)
    return {"exact_match": exact / len(answers), "f1": f1_total / len(answers)}


# --- masked language modelling ---


def mlm_metrics(loss_sum: float, correct: int, count: int) -> dict[str, float]:
    """From summed cross-entropy (nats) and argmax hits over `count` masked tokens."""
    if count == 0:
        raise ValueError("no masked tokens to evaluate")
    mean_loss = loss_sum / count
    return {"masked_accuracy": correct / count, "loss": mean_loss, "perplexity": math.exp(min(mean_loss, 700.0))}


# --- retrieval ---


def retrieval_ranks(similarities, gold: Sequence[int]) -> np.ndarray:
    """1-based rank of each query's gold candidate: 1 + the number of other candidates scoring at
    least as high (ties count against the query, so a constant scorer never ranks first).
    similarities: queries x candidates; gold[i]: the index of query i's right candidate."""
    scores = np.asarray(similarities, dtype=np.float64)
    gold = np.asarray(gold, dtype=np.int64)
    if scores.ndim != 2 or len(gold) != scores.shape[0] or scores.shape[1] < 1:
        raise ValueError(
            f"similarities must be queries x candidates with one gold index per query, "
            f"got shape {scores.shape} and {len(gold)} gold indices"
        )
    if ((gold < 0) | (gold >= scores.shape[1])).any():
        raise ValueError(f"gold indices must be in 0..{scores.shape[1] - 1}")
    right = scores[np.arange(len(gold)), gold][:, None]
    return (scores >= right).sum(axis=1)  # the gold candidate itself counts once


def retrieval_metrics(similarities, gold: Sequence[int]) -> dict[str, float]:
    """accuracy_at_1 (share of queries whose gold candidate ranks first) and mrr (mean of 1 / rank)."""
    ranks = retrieval_ranks(similarities, gold)
    return {"accuracy_at_1": float((ranks == 1).mean()), "mrr": float((1.0 / ranks).mean())}


# --- the no-signal bar ---


def no_signal_score(metric: str, labels: Sequence | None = None, candidates: int | None = None) -> float | None:
    """What `metric` scores for a model that ignores its input (None: no such bar for it).

    - accuracy: the majority class's share of `labels` (always predicting it);
    - f1 (positive class 1): always predicting the positive class, 2p / (1 + p) for positive
      share p (the best constant prediction: always negative scores 0);
    - matthews, pearson, spearman: 0 (a constant prediction; a random one in expectation);
    - accuracy_at_1, mrr: a random ranking of `candidates` candidates, in expectation:
      1 / N and (1 + 1/2 + ... + 1/N) / N;
    - masked_accuracy: the most frequent token's share of the MLM `labels` (the targets);
    - exact_match, perplexity, loss and anything else: None. SQuAD's "f1" shares the name of
      the classification F1; its bar is not defined here (evaluation.no_signal_scores skips QA).
    """
    if metric in ("matthews", "pearson", "spearman"):
        return 0.0
    if metric in ("accuracy_at_1", "mrr"):
        if not candidates or candidates < 1:
            raise ValueError(f"the no-signal {metric} needs the number of candidates, got {candidates!r}")
        if metric == "accuracy_at_1":
            return 1.0 / candidates
        return sum(1.0 / k for k in range(1, candidates + 1)) / candidates
    if metric in ("accuracy", "f1", "masked_accuracy"):
        if labels is None or len(labels) == 0:
            raise ValueError(f"the no-signal {metric} needs the evaluation labels")
        counts = collections.Counter(labels)
        if metric == "f1":
            positive = counts.get(1, 0) / len(labels)
            return 2 * positive / (1 + positive)
        return max(counts.values()) / len(labels)
    return None
