#!/usr/bin/env bash
# Set up, then run the whole test suite (library tests, slow tests on the real offline model).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export TICKETLIB_GLUE_DIR="${TICKETLIB_GLUE_DIR:-$(cd .. && pwd)/shared/data/glue}"
# Library tests, then the committed notebooks re-executed by nbval (smoke profile).
.venv/bin/python -m pytest -q "$@"
# nbval: copies of the committed notebooks with the smoke parameters injected by papermill
# (the procedure that made their outputs: scripts/refresh_notebooks.py), run on a fresh store;
# the cells marked NBVAL_CHECK_OUTPUT must reproduce the committed outputs (docs/notebooks.md).
nbval_dir="$(mktemp -d -t ticketlib-nbval-XXXXXX)"
trap 'rm -rf "$nbval_dir"' EXIT
.venv/bin/python scripts/refresh_notebooks.py --prepare "$nbval_dir/notebooks" --store "$nbval_dir/store" >/dev/null
TICKETLIB_RUNS="$nbval_dir/store" TQDM_DISABLE=1 .venv/bin/python -m pytest -q -p no:cacheprovider \
  --rootdir "$nbval_dir" --nbval-lax --nbval-sanitize-with tests/nbval_sanitize.cfg "$nbval_dir/notebooks"
