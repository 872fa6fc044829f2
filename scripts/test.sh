#!/usr/bin/env bash
# Set up (if needed) and run every test: the package's tests, then the six notebooks under
# nbval (short QUICK run on the embedded engine, in a throw-away work folder), then the
# browser test (JupyterLab in Debian's chromium) on the notebooks' results.
# Usage: bash scripts/test.sh [pytest args for the package tests]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/browser_setup.sh
. .venv/bin/activate
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
python -m pytest -q "$@"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
export FTW_WORK_DIR="$scratch/work" FTW_ENGINE_DIR="$scratch/engine"
FTW_QUICK=1 python -m pytest -q --nbval-lax notebooks/ --ignore=notebooks/make_notebooks.py -p no:warnings
FTW_SCREENSHOTS="${FTW_SCREENSHOTS:-screenshots}" python -m pytest -q -m browser tests/browser -p no:cacheprovider
echo "screenshots of the rendered widgets: ${FTW_SCREENSHOTS:-screenshots}/"
