#!/usr/bin/env bash
# Set up, then run the tests: every fast test, the slow ones marked `essential` (one end-to-end
# check of each flow: kill and resume, sweeps, shards, JupyterLab, the real model), then nbval.
# --all: every slow test too (the Slurm cluster, every documented example, every kill point, the
# real seed shards): about 25 minutes more on 2 cores; run it before merging a change to those.
# Other arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
marks=(-m "not slow or essential")
if [ "${1:-}" = "--all" ]; then
  marks=()
  shift
fi
EXTRAS=all bash scripts/setup.sh  # the test tools too (pytest, nbval, ruff, submitit, ...)
# The browser tests' tools, for the tests only (the main job opens no browser): Debian's chromium
# and Playwright (pyproject's `browser` extra), which drives it and downloads no browser of its own.
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "[test] installing Debian's chromium (the browser tests)"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "[test] warning: could not install chromium; the browser tests will skip (fail under CI)"
fi
stamp=".venv/.bert-tickets-browser"
want="$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "[test] installing Playwright (pinned; no browser download)"
  .venv/bin/python -m pip --disable-pip-version-check -q install -c constraints.txt -e ".[browser]"
  echo "$want" > "$stamp"
fi
# Lint and format first (pyproject.toml [tool.ruff]): a style error fails in seconds, not after
# the suite. `.venv/bin/ruff format .` writes the format this checks.
.venv/bin/ruff check .
.venv/bin/ruff format --check .
export TICKETLIB_GLUE_DIR="${TICKETLIB_GLUE_DIR:-$(cd .. && pwd)/shared/data/glue}"
# Library tests (the 25 slowest listed at the end: where the suite's time goes), then the
# committed notebooks re-executed by nbval (smoke profile). One pytest process: with two xdist
# workers on 2 cores the suite took longer (benchmarks/README.md), because its
# slow tests already keep both cores busy (sweeps run two notebooks at a time).
.venv/bin/python -m pytest -q --durations=25 "${marks[@]}" "$@"
# nbval: copies of the committed notebooks with the smoke parameters injected by papermill
# (the procedure that made their outputs: scripts/refresh_notebooks.py), run on a fresh store;
# the cells marked NBVAL_CHECK_OUTPUT must reproduce the committed outputs (docs/notebooks.md).
nbval_dir="$(mktemp -d -t ticketlib-nbval-XXXXXX)"
trap 'rm -rf "$nbval_dir"' EXIT
.venv/bin/python scripts/refresh_notebooks.py --prepare "$nbval_dir/notebooks" --store "$nbval_dir/store" >/dev/null
TICKETLIB_RUNS="$nbval_dir/store" TQDM_DISABLE=1 .venv/bin/python -m pytest -q -p no:cacheprovider \
  --rootdir "$nbval_dir" --nbval-lax --nbval-sanitize-with tests/nbval_sanitize.cfg "$nbval_dir/notebooks"
