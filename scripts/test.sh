#!/usr/bin/env bash
# Set up (if needed) and run every test: the linter and the formatter's check (ruff), the package's tests, then the
# eight notebooks (six steps, the preference-tuning round and a side lesson) under nbval (short QUICK run on the
# embedded engine, in a throw-away work folder), then the browser test (JupyterLab in Debian's chromium) on the notebooks' results.
# Every stage runs even when an earlier one fails, so one failure never hides another;
# the summary at the end lists each stage's outcome and the exit code is 1 if any failed.
# Usage: bash scripts/test.sh [pytest args for the package tests]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
outcomes=()
failed=0
passed=0
stage() {  # stage NAME COMMAND...: run it, remember how it ended, carry on
  local name=$1 started=$SECONDS rc=0
  shift
  echo "== $name"
  "$@" || rc=$?
  if [ "$rc" -eq 0 ]; then
    outcomes+=("passed  $name ($((SECONDS - started)) s)")
    passed=$((passed + 1))
  else
    outcomes+=("FAILED  $name (exit $rc, $((SECONDS - started)) s)")
    failed=$((failed + 1))
  fi
}
stage "lint (ruff check)" ruff check .
stage "format (ruff format --check)" ruff format --check .
stage "package tests" python -m pytest -q --durations=25 "$@"
# the notebooks and then the browser share one throw-away work folder and engine, as a learner's session does
export FTW_WORK_DIR="$scratch/work" FTW_ENGINE_DIR="$scratch/engine"
FTW_QUICK=1 stage "notebooks (nbval)" python -m pytest -q --nbval-lax notebooks/*.ipynb -p no:warnings
# the browser's set-up is a stage of its own: without root or sudo to install chromium it fails, and every
# other stage still runs
stage "browser set-up (Debian's chromium)" bash scripts/browser_setup.sh
FTW_SCREENSHOTS="${FTW_SCREENSHOTS:-screenshots}" \
  stage "browser (JupyterLab in chromium)" python -m pytest -q -m browser tests/browser -p no:cacheprovider
echo "screenshots of the rendered widgets: ${FTW_SCREENSHOTS:-screenshots}/"
cat "${FTW_SCREENSHOTS:-screenshots}/session_memory.txt" 2>/dev/null || true
echo "== summary"
printf '%s\n' "${outcomes[@]}"
echo "stages: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
