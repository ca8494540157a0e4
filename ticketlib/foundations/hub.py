"""Is the Hugging Face hub reachable? Asked before any hub call so that offline use fails at
once with a clear message instead of after ~25 s of retries inside transformers/datasets.

With an offline flag set (HF_HUB_OFFLINE=1, common on cluster nodes without a network after
downloading on a login node), the Hugging Face libraries read only their local cache and fail
at once when something is not there, so the hub code path is taken and serves the cache."""

from __future__ import annotations

import functools
import os
import socket
from urllib.parse import urlparse

OFFLINE_FLAGS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")


def offline_flag() -> str | None:
    """The first offline flag that is set, if any: the libraries then use their cache only."""
    for flag in OFFLINE_FLAGS:
        if os.environ.get(flag, "").strip().lower() in ("1", "true", "yes", "on"):
            return flag
    return None


def _libraries_offline() -> bool:
    """Whether huggingface_hub runs offline: it reads the flag once, when it is imported."""
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def hub_unavailable_reason() -> str | None:
    """None if the hub (or, with an offline flag, the local Hugging Face cache) may serve the
    request, else why not (an unresolvable host: no network)."""
    if offline_flag() and _libraries_offline():
        return None
    # No flag, or a flag set after the libraries were imported (they would still try the
    # network, with ~25 s of retries): ask DNS.
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
