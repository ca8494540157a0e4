"""Named, seeded caps on split sizes for quick profiles."""

from __future__ import annotations

import numpy as np


def take_subset(items: list, limit: int | None, seed: int) -> list:
    """At most `limit` items, drawn without replacement by `seed`, kept in their original order
    (so the result is a function of (items, limit, seed) only). None or a larger limit keeps all."""
    if limit is None or limit >= len(items):
        return list(items)
    if limit < 0:
        raise ValueError(f"subset size must be >= 0, got {limit}")
    chosen = np.sort(np.random.default_rng(seed).permutation(len(items))[:limit])
    return [items[i] for i in chosen]
