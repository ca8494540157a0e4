"""Evaluation of a model on a task's dev features: eval mode, no gradients, the model's own
device, length-grouped batches (order restored by index), then the task's metrics.

Retrieval (head "contrastive"): each dev question is ranked against the distinct sentences
of the dev set (the pool), by the cosine similarity of the model's mean-pooled embeddings.
`no_signal_scores(data)` gives each metric's bar for a model that ignores its input."""

from __future__ import annotations

import inspect

import torch
from torch import nn

from ticketlib.foundations import metrics as M
from ticketlib.foundations.batching import Batches
from ticketlib.tasks.data.squad_postprocess import best_spans

MLM_MAX_BATCH = 16  # MLM logits are batch x length x vocab floats: cap the memory


def _inputs(model: nn.Module, batch: dict, device: torch.device) -> dict:
    accepted = set(inspect.signature(model.forward).parameters)
    return {
        k: v.to(device)
        for k, v in batch.items()
        if k in accepted and k not in ("labels", "start_positions", "end_positions")
    }


def _batches(data, features, batch_size: int):
    return Batches(features, batch_size, shuffle=False, group_by_length=True, pad_token_id=data.pad_token_id)


def evaluate(data, model: nn.Module, batch_size: int = 64, device=None) -> dict[str, float]:
    """Metrics of `model` on every eval split of `data`: the first split's under plain names
    (e.g. "accuracy"), others suffixed with the split name (MNLI: "accuracy_mismatched")."""
    if device is not None:
        model.to(device)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    results: dict[str, float] = {}
    try:
        with torch.no_grad():
            for position, (split, features) in enumerate(data.eval_sets.items()):
                scores = _evaluate_split(data, model, split, features, batch_size, device)
                suffix = "" if position == 0 else f"_{split}"
                results.update({f"{name}{suffix}": value for name, value in scores.items()})
    finally:
        model.train(was_training)
    return results


def _evaluate_split(data, model, split, features, batch_size, device) -> dict[str, float]:
    head = data.task.head
    if head == "mlm":
        return _evaluate_mlm(data, model, features, min(batch_size, MLM_MAX_BATCH), device)
    if head == "qa":
        return _evaluate_qa(data, model, split, features, batch_size, device)
    if head == "contrastive":
        return _evaluate_retrieval(data, model, features, batch_size, device)
    outputs: list = [None] * len(features)
    for indices, batch in _batches(data, features, batch_size):
        logits = model(**_inputs(model, batch, device)).logits.float().cpu()
        values = logits[:, 0] if head == "regression" else logits.argmax(-1)
        for i, value in zip(indices, values.tolist()):
            outputs[i] = value
    labels = [f["labels"] for f in features]
    return {name: M.CLASSIFICATION_METRICS[name](outputs, labels) for name in data.task.metrics}


def _evaluate_mlm(data, model, features, batch_size, device) -> dict[str, float]:
    loss_sum, correct, count = 0.0, 0, 0
    for _, batch in _batches(data, features, batch_size):
        logits = model(**_inputs(model, batch, device)).logits.float()
        labels = batch["labels"].to(device)
        where = labels != -100
        picked, targets = logits[where], labels[where]
        loss_sum += nn.functional.cross_entropy(picked, targets, reduction="sum").item()
        correct += (picked.argmax(-1) == targets).sum().item()
        count += targets.numel()
    return M.mlm_metrics(loss_sum, correct, count)


def _evaluate_qa(data, model, split, features, batch_size, device) -> dict[str, float]:
    starts: list = [None] * len(features)
    ends: list = [None] * len(features)
    for indices, batch in _batches(data, features, batch_size):
        out = model(**_inputs(model, batch, device))
        for row, i in enumerate(indices):
            length = len(features[i]["input_ids"])  # drop this batch's padding
            starts[i] = out.start_logits[row, :length].float().cpu().numpy()
            ends[i] = out.end_logits[row, :length].float().cpu().numpy()
    qa = data.qa_eval[split]
    predictions = best_spans(qa["examples"], qa["meta"], starts, ends)
    return M.squad_metrics(predictions, {e["id"]: e["answers"]["text"] for e in qa["examples"]})


SEQUENCE_FIELDS = ("input_ids", "attention_mask", "token_type_ids")


def retrieval_pool(features) -> tuple[list[dict], list[dict], list[int]]:
    """(question features, candidate sentence features, gold candidate index per question):
    the candidates are the distinct second sequences ("pair_" fields) of `features`."""
    questions, candidates, gold, index = [], [], [], {}
    for feature in features:
        questions.append({k: feature[k] for k in SEQUENCE_FIELDS if k in feature})
        key = tuple(feature["pair_input_ids"])
        if key not in index:
            index[key] = len(candidates)
            candidates.append({k: feature["pair_" + k] for k in SEQUENCE_FIELDS if "pair_" + k in feature})
        gold.append(index[key])
    return questions, candidates, gold


def _embed(data, model, features, batch_size, device) -> torch.Tensor:
    rows: list = [None] * len(features)
    for indices, batch in _batches(data, features, batch_size):
        embeddings = model.encode(**{k: v.to(device) for k, v in batch.items()}).float().cpu()
        for row, i in enumerate(indices):
            rows[i] = embeddings[row]
    return nn.functional.normalize(torch.stack(rows), dim=-1)


def _evaluate_retrieval(data, model, features, batch_size, device) -> dict[str, float]:
    questions, candidates, gold = retrieval_pool(features)
    similarities = (
        _embed(data, model, questions, batch_size, device) @ _embed(data, model, candidates, batch_size, device).T
    )
    return M.retrieval_metrics(similarities.numpy(), gold)


def no_signal_scores(data: "TaskData") -> dict[str, float]:  # noqa: F821 (data.loading imports this module)
    """Each metric's score for a model that ignores its input (see metrics.no_signal_score), on
    every eval split of `data`, named as `evaluate` names the scores; metrics without such a
    bar (perplexity, SQuAD's) are left out. Classification uses the eval labels (majority
    class), retrieval the pool's size (random ranking), MLM the masked targets."""
    results: dict[str, float] = {}
    for position, (split, features) in enumerate(data.eval_sets.items()):
        suffix = "" if position == 0 else f"_{split}"
        head = data.task.head
        if head == "qa":
            continue
        labels = candidates = None
        if head == "mlm":
            labels = [t for f in features for t in f["labels"] if t != -100]
        elif head == "contrastive":
            candidates = len(retrieval_pool(features)[1])
        else:
            labels = [f["labels"] for f in features]
        for name in data.task.metrics:
            score = M.no_signal_score(name, labels=labels, candidates=candidates)
            if score is not None:
                results[f"{name}{suffix}"] = score
    return results
