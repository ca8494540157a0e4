#!/usr/bin/env bash
# Set up, then run the whole test suite (library tests, slow tests on the real offline model).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export TICKETLIB_GLUE_DIR="${TICKETLIB_GLUE_DIR:-$(cd .. && pwd)/shared/data/glue}"
exec .venv/bin/python -m pytest -q "$@"
