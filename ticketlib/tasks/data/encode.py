"""Examples -> model features (plain dicts of lists/scalars, unpadded; see ticketlib.foundations.batching).

Fast tokenizers, batched. Sentence(-pair) tasks: "input_ids", "attention_mask",
"token_type_ids", "labels". Retrieval pairs: the two texts as two separate sequences, the
second under the same names prefixed "pair_" (no labels: the other pairs of a batch are the
negatives). SQuAD: question + context windows of `max_length` tokens
overlapping by `doc_stride`, with answer token positions for training and offset mappings
(kept apart from the model features) for span post-processing. MLM: the corpus cut into
fixed-length blocks; masking is a separate, seeded step (`mask_tokens`).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

CHUNK = 1000  # examples per tokenizer call: batched, bounded memory
MAX_QUERY_TOKENS = 64  # as BERT's run_squad: longer questions are cut (else they leave no room for context)


def _model_fields(encoding, i: int) -> dict:
    feature = {"input_ids": encoding["input_ids"][i], "attention_mask": encoding["attention_mask"][i]}
    if "token_type_ids" in encoding:
        feature["token_type_ids"] = encoding["token_type_ids"][i]
    return feature


def encode_pairs(tokenizer, examples: Sequence[dict], max_length: int) -> list[dict]:
    """Sentence or sentence-pair examples {"text_a", "text_b"?, "label"} -> features."""
    features = []
    for start in range(0, len(examples), CHUNK):
        chunk = examples[start : start + CHUNK]
        texts_b = [e["text_b"] for e in chunk] if "text_b" in chunk[0] else None
        encoding = tokenizer([e["text_a"] for e in chunk], texts_b, truncation=True, max_length=max_length)
        for i, example in enumerate(chunk):
            features.append({**_model_fields(encoding, i), "labels": example["label"]})
    return features


def encode_retrieval(tokenizer, examples: Sequence[dict], max_length: int) -> list[dict]:
    """Retrieval examples {"text_a", "text_b"} -> features with "input_ids", "attention_mask",
    "token_type_ids" for text_a and the same fields prefixed "pair_" for text_b."""
    features = []
    for start in range(0, len(examples), CHUNK):
        chunk = examples[start : start + CHUNK]
        first = tokenizer([e["text_a"] for e in chunk], truncation=True, max_length=max_length)
        second = tokenizer([e["text_b"] for e in chunk], truncation=True, max_length=max_length)
        for i in range(len(chunk)):
            features.append(
                {**_model_fields(first, i), **{f"pair_{k}": v for k, v in _model_fields(second, i).items()}}
            )
    return features


def _cut_questions(tokenizer, questions: list[str], limit: int) -> list[str]:
    """Questions stripped of leading space and cut to `limit` tokens (at a token boundary)."""
    questions = [q.lstrip() for q in questions]
    encoding = tokenizer(questions, add_special_tokens=False, return_offsets_mapping=True)
    return [
        q if len(offsets) <= limit else q[: offsets[limit - 1][1]]
        for q, offsets in zip(questions, encoding["offset_mapping"])
    ]


def encode_qa(
    tokenizer, examples: Sequence[dict], max_length: int, doc_stride: int, train: bool
) -> tuple[list[dict], list[dict]]:
    """SQuAD examples -> (features, meta). Train features carry "start_positions"/"end_positions"
    (the [CLS] index 0 when the answer is not inside the window); meta holds, per feature,
    "example_index" and "offsets" (character span per token; None outside the context)."""
    if doc_stride >= max_length:
        raise ValueError(f"doc_stride ({doc_stride}) must be smaller than max_length ({max_length})")
    limit = min(MAX_QUERY_TOKENS, max_length // 2)
    features, meta = [], []
    for start in range(0, len(examples), CHUNK):
        chunk = examples[start : start + CHUNK]
        questions = _cut_questions(tokenizer, [e["question"] for e in chunk], limit)
        encoding = tokenizer(
            questions,
            [e["context"] for e in chunk],
            truncation="only_second",
            max_length=max_length,
            stride=doc_stride,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
        )
        for i in range(len(encoding["input_ids"])):
            example_index = encoding["overflow_to_sample_mapping"][i]
            sequence_ids = encoding.sequence_ids(i)
            offsets = [o if sequence_ids[k] == 1 else None for k, o in enumerate(encoding["offset_mapping"][i])]
            feature = _model_fields(encoding, i)
            if train:
                answers = chunk[example_index]["answers"]
                answer_start = answers["answer_start"][0]
                feature["start_positions"], feature["end_positions"] = _answer_tokens(
                    offsets, answer_start, answer_start + len(answers["text"][0])
                )
            features.append(feature)
            meta.append({"example_index": start + example_index, "offsets": [list(o) if o else None for o in offsets]})
    return features, meta


def _answer_tokens(offsets: list, char_start: int, char_end: int) -> tuple[int, int]:
    """Token indices of the answer's first and last token, or (0, 0) if not wholly in this window."""
    context = [k for k, o in enumerate(offsets) if o is not None]
    if not context or offsets[context[0]][0] > char_start or offsets[context[-1]][1] < char_end:
        return 0, 0
    first = next(k for k in context if offsets[k][1] > char_start)
    last = next(k for k in reversed(context) if offsets[k][0] < char_end)
    return first, last


def encode_blocks(tokenizer, texts: Sequence[str], max_length: int) -> list[dict]:
    """The texts, tokenized and joined with [SEP], cut into blocks of `max_length` tokens
    ([CLS] + max_length-2 tokens + [SEP]); a final partial block is dropped unless it is the only one."""
    if max_length < 8:
        raise ValueError(f"MLM max_length must be >= 8, got {max_length}")
    stream: list[int] = []
    for start in range(0, len(texts), CHUNK):
        for ids in tokenizer(list(texts[start : start + CHUNK]), add_special_tokens=False)["input_ids"]:
            stream.extend(ids + [tokenizer.sep_token_id])
    width = max_length - 2
    count = max(1, len(stream) // width)
    blocks = []
    for b in range(count):
        ids = [tokenizer.cls_token_id] + stream[b * width : (b + 1) * width] + [tokenizer.sep_token_id]
        blocks.append({"input_ids": ids, "attention_mask": [1] * len(ids), "token_type_ids": [0] * len(ids)})
    return blocks


def mask_tokens(blocks: Sequence[dict], tokenizer, seed: int, probability: float = 0.15) -> list[dict]:
    """BERT masking, deterministic for `seed`: each non-special token is chosen with `probability`;
    chosen tokens become [MASK] 80%, a random token 10%, unchanged 10%; "labels" holds the
    original id at chosen positions and -100 elsewhere. At least one token per block is chosen."""
    rng = np.random.default_rng(seed)
    special = set(tokenizer.all_special_ids)
    vocab = len(tokenizer)
    masked = []
    for block in blocks:
        ids = np.asarray(block["input_ids"])
        eligible = ~np.isin(ids, list(special))
        chosen = (rng.random(len(ids)) < probability) & eligible
        if not chosen.any() and eligible.any():  # a block with no target would contribute nothing
            chosen[rng.choice(np.flatnonzero(eligible))] = True
        action = rng.random(len(ids))
        random_ids = rng.integers(0, vocab, len(ids))
        new_ids = ids.copy()
        new_ids[chosen & (action < 0.8)] = tokenizer.mask_token_id
        swap = chosen & (action >= 0.8) & (action < 0.9)
        new_ids[swap] = random_ids[swap]
        labels = np.where(chosen, ids, -100)
        masked.append({**block, "input_ids": new_ids.tolist(), "labels": labels.tolist()})
    return masked
