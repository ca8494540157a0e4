"""Shared fixtures: tiny randomly initialised BERT models and a small learnable synthetic task."""

from __future__ import annotations

import os
import random

import pytest
import torch
from transformers import BertConfig, BertForMaskedLM, BertForQuestionAnswering, BertForSequenceClassification

HEADS = {"cls": BertForSequenceClassification, "qa": BertForQuestionAnswering, "mlm": BertForMaskedLM}


def pytest_configure(config):
    """Under pytest-xdist (-n N), each worker's torch gets its share of the cores: by default every
    worker would run one thread per core, N times too many threads for the machine."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))


def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist, the slow tests (whole sweeps, the docs' study) are handed out first, so the
    last minutes are not one worker finishing a long test alone; a stable sort keeps each group's
    order (the docs blocks run in document order)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def tiny_config(layers: int = 2, hidden: int = 32, vocab: int = 64) -> BertConfig:
    return BertConfig(
        vocab_size=vocab,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=2 * hidden,
        max_position_embeddings=64,
        num_labels=2,
    )


def tiny_model(head: str = "cls", seed: int = 0, **config_kwargs):
    torch.manual_seed(seed)
    return HEADS[head](tiny_config(**config_kwargs)).eval()


def synthetic_features(n: int = 64, seed: int = 0, vocab: int = 64) -> list[dict]:
    """Label 1 iff token 7 occurs: learnable in a few dozen steps by a tiny model."""
    rng = random.Random(seed)
    features = []
    for _ in range(n):
        length = rng.randint(4, 16)
        ids = [2] + [rng.randrange(8, vocab) for _ in range(length - 2)] + [3]
        label = rng.random() < 0.5
        if label:
            ids[rng.randrange(1, length - 1)] = 7
        features.append(
            {"input_ids": ids, "attention_mask": [1] * length, "token_type_ids": [0] * length, "labels": int(label)}
        )
    return features


@pytest.fixture
def model():
    return tiny_model()


@pytest.fixture
def features():
    return synthetic_features()


@pytest.fixture
def toy(tmp_path):
    """The toy repository; tests give its grid a failing point through `fail`."""
    from helpers import make_toy_repo  # here, not at the top: tests/imp_child.py imports conftest, not sweeps

    return make_toy_repo(tmp_path)


@pytest.fixture
def network_attempts(monkeypatch) -> list[tuple]:
    """Refuse and record, as ("lookup" | "connect", address), every name lookup and socket
    connect in this process. Exact on any machine, where a time limit only guessed at retries."""
    import socket

    attempts: list[tuple] = []

    def refuser(kind):
        def refuse(*args, **kwargs):
            attempts.append((kind, args[1] if kind == "connect" else args[:2]))
            raise OSError("no network in this test")

        return refuse

    monkeypatch.setattr(socket, "getaddrinfo", refuser("lookup"))
    monkeypatch.setattr(socket.socket, "connect", refuser("connect"))
    monkeypatch.setattr(socket.socket, "connect_ex", refuser("connect"))
    return attempts
