#!/usr/bin/env bash
# Set up, then run the main job: the quick offline study.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "[study] set-up done in ${SECONDS} s"  # the sweep prints its own time at the end ("finished in")
exec .venv/bin/python -m ticketlib study "$@"
