#!/usr/bin/env bash
# Set up, then run the main job: the quick offline study.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m ticketlib study "$@"
