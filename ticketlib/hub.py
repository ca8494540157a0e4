"""Is the Hugging Face hub reachable? Asked before any hub call so that offline use fails at
once with a clear message instead of after ~25 s of retries inside transformers/datasets."""

from __future__ import annotations

import functools
import os
import socket
from urllib.parse import urlparse

OFFLINE_FLAGS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")


def hub_unavailable_reason() -> str | None:
    """None if the hub may be reachable, else why not (an offline flag or an unresolvable host)."""
    for flag in OFFLINE_FLAGS:
        if os.environ.get(flag, "").strip().lower() in ("1", "true", "yes", "on"):
            return f"{flag} is set"
    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
    return _resolve_failure(host)


@functools.lru_cache(maxsize=4)
def _resolve_failure(host: str) -> str | None:
    # A DNS lookup only: no connection is opened here.
    try:
        socket.getaddrinfo(host, 443)
    except OSError as error:
        return f"cannot resolve {host} ({error.strerror or error}): no network"
    return None
