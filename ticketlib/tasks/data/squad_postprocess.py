"""From per-token start/end logits of context windows to one answer text per question:
the n-best span search of the BERT SQuAD recipe."""

from __future__ import annotations

from typing import Sequence

import numpy as np


def best_spans(
    examples: Sequence[dict],
    meta: Sequence[dict],
    start_logits: Sequence[np.ndarray],
    end_logits: Sequence[np.ndarray],
    n_best: int = 20,
    max_answer_tokens: int = 30,
) -> dict[str, str]:
    """{question id: answer text}. For every window of a question, the `n_best` start and end
    tokens are paired; a pair is valid if both lie in the context, end >= start, and it spans at
    most `max_answer_tokens`; the valid pair with the highest start + end logit over all the
    question's windows wins. A question with no valid pair gets "" (scored as wrong)."""
    best: dict[int, tuple[float, str]] = {}
    for feature_meta, starts, ends in zip(meta, start_logits, end_logits):
        index = feature_meta["example_index"]
        offsets = feature_meta["offsets"]
        context = examples[index]["context"]
        top_starts = np.argsort(starts)[::-1][:n_best]
        top_ends = np.argsort(ends)[::-1][:n_best]
        for s in top_starts:
            if s >= len(offsets) or offsets[s] is None:
                continue
            for e in top_ends:
                if e >= len(offsets) or offsets[e] is None or e < s or e - s + 1 > max_answer_tokens:
                    continue
                score = float(starts[s] + ends[e])
                if index not in best or score > best[index][0]:
                    best[index] = (score, context[offsets[s][0] : offsets[e][1]])
    return {example["id"]: best.get(i, (0.0, ""))[1] for i, example in enumerate(examples)}
