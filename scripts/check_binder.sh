#!/usr/bin/env bash
# Prove the Binder environment: build a fresh virtual environment from the binder/ files alone
# (requirements.txt, then postBuild), then execute all six notebooks through binder/start with
# the peak memory of the whole run held under mybinder's 2 GB.
# Usage: bash scripts/check_binder.sh [folder]   (default: a new temporary folder)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(realpath "${1:-$(mktemp -d)}")
mkdir -p "$dir/home"
unset XDG_CACHE_HOME FTW_MODEL_CACHE TIKTOKEN_CACHE_DIR FTW_WORK_DIR FTW_ENGINE_DIR VIRTUAL_ENV
export HOME="$dir/home"           # every cache starts empty, as in a fresh Binder image
# where the PyTorch CPU index cannot be reached (a registry mirror), fail over to the others at once
python3 -c "import socket; socket.gethostbyname('download.pytorch.org')" 2>/dev/null || export PIP_RETRIES=0
"${PYTHON:-python3}" -m venv "$dir/venv"
. "$dir/venv/bin/activate"
python -m pip install -q --upgrade pip
python -m pip install -q -r binder/requirements.txt
bash binder/postBuild
binder/start python scripts/run_workbook.py --out "$dir/results" --max-memory-gb 2
echo "binder check passed: $dir/results/summary.md"
