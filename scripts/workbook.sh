#!/usr/bin/env bash
# Set up (if needed) and run the whole workbook headless on the embedded engine.
# Executed notebooks and summary.md land in ./results (or the folder given as $1).
# FTW_QUICK=0 runs the full-size workbook instead of the short QUICK subsets.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
out=${1:-results}
full=()
[ "${FTW_QUICK:-1}" = "0" ] && full=(--full)
# ${a[@]+"${a[@]}"}: an empty array is an unbound variable under set -u in bash before 4.4 (macOS ships 3.2)
python scripts/run_workbook.py --out "$out" --max-memory-gb 2 ${full[@]+"${full[@]}"}
