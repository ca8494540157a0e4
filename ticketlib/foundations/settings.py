"""Where things live: the repository, the run store, the asset cache, the GLUE folder, and
every TICKETLIB_* environment variable, read here and nowhere else.

  TICKETLIB_RUNS        the run store (default: runs/ at the repository root)
  TICKETLIB_CACHE       the offline-asset cache (default: ~/.cache/bert-tickets)
  TICKETLIB_WHEELHOUSE  a folder of pre-downloaded asset archives (machines without a registry)
  TICKETLIB_GLUE_DIR    a GLUE folder in the classic glue_data/ layout (source "glue_dir")
  TICKETLIB_THREADS     torch CPU threads per run (set by the sweep for its workers)
"""

from __future__ import annotations

import os
from pathlib import Path

RUNS, CACHE, WHEELHOUSE, GLUE_DIR, THREADS = (
    "TICKETLIB_RUNS",
    "TICKETLIB_CACHE",
    "TICKETLIB_WHEELHOUSE",
    "TICKETLIB_GLUE_DIR",
    "TICKETLIB_THREADS",
)


def repo_root() -> Path:
    return Path(__file__).resolve().parents[2]  # <root>/ticketlib/foundations/settings.py


def store_root() -> Path:
    """The run store: $TICKETLIB_RUNS, else `runs/` at the repository root (gitignored)."""
    return Path(os.environ.get(RUNS) or repo_root() / "runs").expanduser().resolve()


def reports_root() -> Path:
    return repo_root() / "reports"


def cache_root() -> Path:
    """The asset cache: $TICKETLIB_CACHE, else ~/.cache/bert-tickets (outside the repository)."""
    return Path(os.environ.get(CACHE) or Path.home() / ".cache" / "bert-tickets").expanduser()


def wheelhouse() -> str | None:
    return os.environ.get(WHEELHOUSE) or None


def glue_dir() -> str | None:
    return os.environ.get(GLUE_DIR) or None


def threads() -> int:
    """$TICKETLIB_THREADS as an int (0: not set)."""
    return int(os.environ.get(THREADS, "0") or 0)


def threads_env(count: int) -> dict[str, str]:
    """For a sweep run's kernel: torch and OpenMP threads of everything it starts."""
    return {"OMP_NUM_THREADS": str(count), THREADS: str(count)}
