"""Loading base models for serving."""

import pytest
import torch
from peft import LoraConfig, get_peft_model
from torch.utils._python_dispatch import TorchDispatchMode

from ftwidgets.engine import models


class _LargestTensor(TorchDispatchMode):
    """Records the element count of the largest tensor any operation makes."""

    largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if isinstance(out, torch.Tensor):
            self.largest = max(self.largest, out.numel())
        return out


def _largest_tensor_of_a_prompt_pass(model, rows: int) -> int:
    ids = torch.randint(100, 1000, (rows, 24))
    with torch.no_grad(), _LargestTensor() as seen:
        model.generate(
            input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=1, do_sample=False, pad_token_id=0
        )
    return seen.largest


def test_an_adapted_model_does_not_copy_the_output_layer_per_prompt(tiny_llama):
    model, _ = models.load(str(tiny_llama), models.Device("cpu", "float32"))
    adapted = get_peft_model(model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"]))  # freezes the base
    adapted.eval()
    weight = adapted.get_output_embeddings().weight
    assert not weight.requires_grad
    rows = 8
    # without the contiguous input, matmul expands the frozen weight to rows x 32 x 49,152 and copies it
    assert _largest_tensor_of_a_prompt_pass(adapted, rows) < rows * weight.numel() / 2

    head = adapted.get_output_embeddings()
    head._forward_pre_hooks.clear()  # the failure this guards against, shown once
    assert _largest_tensor_of_a_prompt_pass(adapted, rows) >= rows * weight.numel()


def _cache_holding(tiny_llama, tmp_path, monkeypatch):
    """A model cache whose converted embedded model is the tiny Llama (in float32, as the conversion writes it)."""
    import shutil

    monkeypatch.setenv("FTW_MODEL_CACHE", str(tmp_path / "models"))
    shutil.copytree(tiny_llama, models.converted_path())
    return models.converted_path()


def test_bfloat16_loads_a_bfloat16_copy_with_the_same_weights(tiny_llama, tmp_path, monkeypatch):
    """The copy holds exactly what casting the float32 folder at load time gives, and bfloat16 loads use it."""
    from transformers import AutoModelForCausalLM

    from ftwidgets.base_models import DEFAULT_BASE_MODEL

    float32 = _cache_holding(tiny_llama, tmp_path, monkeypatch)
    copy = models.ensure_converted(dtype="bfloat16")
    assert copy == models.converted_path(dtype="bfloat16") != float32
    cast = AutoModelForCausalLM.from_pretrained(float32, dtype=torch.bfloat16).state_dict()
    copied = AutoModelForCausalLM.from_pretrained(copy, dtype=torch.bfloat16).state_dict()
    assert sorted(cast) == sorted(copied)
    assert all(torch.equal(cast[k], copied[k]) and copied[k].dtype == torch.bfloat16 for k in cast)
    assert models.resolve(DEFAULT_BASE_MODEL, "bfloat16") == copy and models.resolve(DEFAULT_BASE_MODEL) == float32
    assert models.resolve(str(tiny_llama), "bfloat16") == tiny_llama  # another model loads as it is
    model, tok = models.load(DEFAULT_BASE_MODEL, models.Device("cpu", "bfloat16"))
    assert model.dtype == torch.bfloat16 and tok.pad_token is not None
    assert models.ensure_cached() == list(dict.fromkeys([float32, models.converted_path(dtype=models.cpu_dtype(True))]))


LOAD_PEAK = """
import sys, threading, time, psutil
from ftwidgets.engine import models
me, peak, done = psutil.Process(), [0], threading.Event()
def watch():
    while not done.is_set():
        peak[0] = max(peak[0], me.memory_full_info().pss); time.sleep(0.005)
import torch, transformers.models.llama.modeling_llama  # what any loader imports, before the baseline
models.ensure_converted(dtype=sys.argv[1])
before = me.memory_full_info().pss
threading.Thread(target=watch, daemon=True).start()
model, tok = models.load(models.DEFAULT_BASE_MODEL, models.Device("cpu", sys.argv[1]))
time.sleep(0.05); done.set()
print(peak[0] - before)
"""


@pytest.mark.slow
def test_loading_smollm2_in_bfloat16_reads_no_float32_copy():
    """Cast at load time, the 540 MB float32 file passed through the process: a trainer's PSS rose 0.8 GB while
    loading, a 0.5 GB spike over what it kept (1.07 GB at its peak against 0.76 GB, a 07 job, run alone). From the
    bfloat16 copy the weights are mapped from the file instead."""
    import subprocess
    import sys

    rise = int(
        subprocess.run(
            [sys.executable, "-c", LOAD_PEAK, "bfloat16"], capture_output=True, text=True, check=True
        ).stdout.split()[-1]
    )
    assert rise < 0.35 * 2**30, f"loading rose {rise / 2**20:.0f} MB"


def test_the_bundled_gguf_is_checked_before_it_is_converted(tmp_path, monkeypatch):
    """The real file passes its checksum; a different one is refused by name, before any conversion."""
    from ftwidgets.engine import models

    assert models.verified_gguf() == models.gguf_path()
    other = tmp_path / models.GGUF_FILE
    other.write_bytes(b"GGUF" + b"\0" * 64)
    monkeypatch.setattr(models, "gguf_path", lambda: other)
    with pytest.raises(models.ModelUnavailable, match="SHA-256 differs"):
        models.verified_gguf()
