#!/usr/bin/env bash
# Set up, then run the whole test suite (library tests, slow tests on the real offline model).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export TICKETLIB_GLUE_DIR="${TICKETLIB_GLUE_DIR:-$(cd .. && pwd)/shared/data/glue}"
# Library tests, then the committed notebooks re-executed by nbval (smoke profile).
.venv/bin/python -m pytest -q "$@"
exec .venv/bin/python -m pytest -q -p no:cacheprovider --nbval-lax \
  --nbval-sanitize-with notebooks/nbval_sanitize.cfg notebooks/
