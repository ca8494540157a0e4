"""A disk cache of tokenized features, so a second run does not tokenize again.

Entries live under `<cache dir>/features/<sha256 of the key>.parquet` (Parquet via pyarrow:
no pickle), written to a temporary name and renamed. The key names everything the features
depend on: tokenizer (a hash of its full serialisation: vocab, normaliser, special tokens),
task, source, split, max_length, doc_stride, subset, and a hash of the input examples
themselves, so edited data can never be served stale features.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Callable

import pyarrow as pa
import pyarrow.parquet as pq

from ticketlib.foundations.atomic import atomic_path
from ticketlib.foundations.settings import cache_root as cache_dir

FORMAT_VERSION = 1  # bump when the encoding changes


def tokenizer_fingerprint(tokenizer) -> str:
    """sha256 of the tokenizer's definition (vocab, normaliser, pre-tokeniser, post-processor)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise TypeError(f"{type(tokenizer).__name__} is not a fast tokenizer; load one with use_fast=True")
    definition = json.loads(backend.to_str())
    for transient in ("truncation", "padding"):  # call-time settings the backend remembers, not identity
        definition.pop(transient, None)
    digest = hashlib.sha256(json.dumps(definition, sort_keys=True).encode())
    digest.update(json.dumps(sorted(map(str, tokenizer.all_special_tokens))).encode())
    return digest.hexdigest()


def examples_fingerprint(examples) -> str:
    digest = hashlib.sha256()
    for example in examples:
        digest.update(json.dumps(example, sort_keys=True, ensure_ascii=False).encode())
    return digest.hexdigest()


def cached(key: dict, build: Callable[[], list[dict]], enabled: bool = True) -> tuple[list[dict], bool]:
    """(rows, hit): rows from the cache entry for `key`, else `build()` stored under it."""
    if not enabled:
        return build(), False
    key = {**key, "format": FORMAT_VERSION}
    name = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:32]
    path = cache_dir() / "features" / f"{name}.parquet"
    if path.is_file():
        try:
            return pq.read_table(path).to_pylist(), True
        except (pa.ArrowException, OSError):
            path.unlink(missing_ok=True)  # unreadable entry: rebuild it
    rows = build()
    _write(path, rows, key)
    return rows, False


def _write(path: Path, rows: list[dict], key: dict) -> None:
    table = pa.Table.from_pylist(rows) if rows else pa.table({})
    table = table.replace_schema_metadata({"ticketlib.key": json.dumps(key, sort_keys=True)})
    with atomic_path(path) as tmp:
        pq.write_table(table, str(tmp))
