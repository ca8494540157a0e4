"""Batches of tokenized examples with dynamic padding and optional length grouping.

Features are plain dicts: token sequences as lists of ints ("input_ids", "attention_mask",
"token_type_ids", and MLM "labels"), per-example targets as scalars ("labels",
"start_positions", ...). A feature may hold a second sequence (retrieval pairs) under the same
names prefixed "pair_", padded like its unprefixed field. Each batch is padded only to its own
longest sequence; grouping examples of similar length (the Hugging Face `group_by_length`
recipe) cuts the padding of random batches roughly in half on short-sentence tasks (see
docs/method.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

import torch

# Padding value per sequence field; anything else pads with 0. -100 is ignored by the losses.
PAD_VALUES = {"labels": -100, "attention_mask": 0, "token_type_ids": 0}
PAIR_PREFIX = "pair_"  # a feature's second sequence: "pair_input_ids", "pair_attention_mask", ...


def pad_value(key: str, pad_token_id: int) -> int:
    """The padding of sequence field `key` ("pair_" fields pad like their unprefixed name)."""
    key = key.removeprefix(PAIR_PREFIX)
    return pad_token_id if key == "input_ids" else PAD_VALUES.get(key, 0)


def feature_length(feature: dict) -> int:
    """Tokens of a feature (both sequences of a pair), what length grouping sorts by."""
    return len(feature["input_ids"]) + len(feature.get(PAIR_PREFIX + "input_ids", ()))


def pad_collate(features: Sequence[dict], pad_token_id: int = 0) -> dict[str, torch.Tensor]:
    """Stack features into tensors, padding sequence fields to the longest in this batch."""
    batch: dict[str, torch.Tensor] = {}
    for key in features[0]:
        values = [f[key] for f in features]
        if isinstance(values[0], (list, tuple)):
            width = max(len(v) for v in values)
            pad = pad_value(key, pad_token_id)
            batch[key] = torch.tensor([list(v) + [pad] * (width - len(v)) for v in values])
        else:
            batch[key] = torch.tensor(values)
    return batch


def batch_indices(
    lengths: Sequence[int],
    batch_size: int,
    *,
    shuffle: bool,
    seed: int = 0,
    group_by_length: bool = True,
    megabatch_factor: int = 50,
) -> list[list[int]]:
    """Split example indices into batches, deterministically for a seed.

    shuffle + group_by_length: shuffle, cut into megabatches of `megabatch_factor` batches,
    sort each by length, then shuffle the batch order (so lengths are not curriculum-ordered).
    No shuffle + group_by_length: sort by length (evaluation; callers restore order by index).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    n = len(lengths)
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(n, generator=generator).tolist() if shuffle else list(range(n))
    if group_by_length:
        chunk = batch_size * megabatch_factor if shuffle else max(n, 1)
        order = [
            i for start in range(0, n, chunk) for i in sorted(order[start : start + chunk], key=lambda i: -lengths[i])
        ]
    batches = [order[i : i + batch_size] for i in range(0, n, batch_size)]
    if shuffle and group_by_length:
        batches = [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]
    return batches


@dataclass
class Batches:
    """An epoch-aware iterable of padded batches over in-memory features.

    Iterating yields `(indices, batch)`; `epoch` reseeds the shuffle so each epoch differs
    while the whole run stays a function of `seed`.
    """

    features: Sequence[dict]
    batch_size: int
    shuffle: bool = False
    seed: int = 0
    group_by_length: bool = True
    pad_token_id: int = 0
    epoch: int = 0

    def __post_init__(self):
        if len(self.features) == 0:
            raise ValueError("no examples to batch: the data set is empty (check subset sizes)")
        self.lengths = [feature_length(f) for f in self.features]

    def __len__(self) -> int:
        return -(-len(self.features) // self.batch_size)

    def __iter__(self) -> Iterator[tuple[list[int], dict[str, torch.Tensor]]]:
        for indices in batch_indices(
            self.lengths,
            self.batch_size,
            shuffle=self.shuffle,
            seed=self.seed * 100_003 + self.epoch,
            group_by_length=self.group_by_length,
        ):
            yield indices, pad_collate([self.features[i] for i in indices], self.pad_token_id)

    def padding_fraction(self) -> float:
        """Share of padded positions over one epoch (0 = no padding)."""
        real = padded = 0
        for indices in batch_indices(
            self.lengths,
            self.batch_size,
            shuffle=self.shuffle,
            seed=self.seed * 100_003 + self.epoch,
            group_by_length=self.group_by_length,
        ):
            width = max(self.lengths[i] for i in indices)
            real += sum(self.lengths[i] for i in indices)
            padded += width * len(indices)
        return 1.0 - real / padded
