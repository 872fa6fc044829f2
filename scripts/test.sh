#!/usr/bin/env bash
# Set up (if needed) and run every test: the package's tests, then the notebooks under nbval
# (short QUICK run on the embedded engine, in a throw-away work folder).
# Usage: bash scripts/test.sh [pytest args for the package tests]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
python -m pytest -q "$@"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
FTW_QUICK=1 FTW_WORK_DIR="$scratch/work" FTW_ENGINE_DIR="$scratch/engine" \
  python -m pytest -q --nbval-lax notebooks/ --ignore=notebooks/make_notebooks.py -p no:warnings
