"""Task metrics, all as fractions in [0, 1] (SQuAD too: the official script's 100x is dropped),
except perplexity.

GLUE metrics come from scikit-learn / scipy; SQuAD follows the official v1.1 evaluation
script (answer normalisation, token-level F1, max over the gold answers); MLM metrics are
computed over masked positions only (labels != -100).
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
    "accuracy": accuracy, "f1": f1, "matthews": matthews, "pearson": pearson, "spearman": spearman,
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
