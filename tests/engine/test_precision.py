"""bfloat16 frozen weights: used by the trainer and for chat only on a CPU that multiplies bfloat16 in hardware;
LoRA's own weights stay float32 either way. Under tight memory bfloat16 trains in larger parts."""

import subprocess
import sys

from safetensors.torch import load_file

from ftwidgets.data.dataset import load_jsonl, write_jsonl
from ftwidgets.engine import models, recipe
from ftwidgets.engine.contract import JobFolder, TrainerSpec
from ftwidgets.engine.lora import LoraSettings
from ftwidgets.runtime import machine

from ..conftest import SAMPLES


def test_the_cpu_flags_agree_with_torchs_own_probe():
    """The engine and the notebooks ask /proc/cpuinfo so they need not load torch; torch asks CPUID."""
    import torch

    assert machine.cpu_has_native_bf16() == bool(
        torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    )


def test_the_float32_path_can_be_forced_on_any_cpu(monkeypatch):
    """FTW_CPU_BF16=0 is what a CPU without hardware bfloat16 does, on this one: chat and the trainer in float32."""
    monkeypatch.setenv("FTW_CPU_BF16", "0")
    assert not machine.cpu_has_native_bf16()
    assert models.pick_device(cpu_bf16=True) == models.Device("cpu", "float32")
    monkeypatch.setenv("FTW_CPU_BF16", "1")
    assert machine.cpu_has_native_bf16()
    monkeypatch.setenv("FTW_CPU_BF16", "auto")  # anything else: the CPU's own flags
    test_the_cpu_flags_agree_with_torchs_own_probe()


def test_tight_memory_trains_bfloat16_in_larger_parts(monkeypatch):
    monkeypatch.setenv("FTW_MAX_BATCH_TOKENS", "tight")  # what binder/start and the 2 GB workbook run set
    monkeypatch.setattr(machine, "cpu_has_native_bf16", lambda: True)
    assert recipe.default_max_batch_tokens() == 256
    assert recipe.default_max_batch_tokens(cpu_bf16=False) == 128
    monkeypatch.setattr(machine, "cpu_has_native_bf16", lambda: False)
    assert recipe.default_max_batch_tokens() == 128


def test_chat_serves_in_bfloat16_only_where_the_cpu_has_it(monkeypatch):
    monkeypatch.setattr(machine, "cpu_has_native_bf16", lambda: True)
    assert models.pick_device(cpu_bf16=True) == models.Device("cpu", "bfloat16")
    assert models.pick_device(cpu_bf16=False) == models.Device("cpu", "float32")
    monkeypatch.setattr(machine, "cpu_has_native_bf16", lambda: False)
    assert models.pick_device(cpu_bf16=True) == models.Device("cpu", "float32")


def test_the_trainer_says_which_precision_it_trains_in(tmp_path, tiny_llama):
    train = tmp_path / "train.jsonl"
    write_jsonl(train, load_jsonl(SAMPLES / "math_tutor.jsonl")[:12])
    job = JobFolder(tmp_path / "job")
    job.path.mkdir()
    job.write_spec(
        TrainerSpec(
            job_id="ftjob-bf16",
            base_model=str(tiny_llama),
            training_path=str(train),
            n_epochs=1,
            batch_size=4,
            learning_rate=2e-3,
            seed=1,
            threads=1,
            max_seq_len=256,
            cpu_bf16=True,
            lora=LoraSettings(r=4, alpha=8, dropout=0.0, target_modules=["q_proj", "v_proj"]),
            fine_tuned_model="ft:tiny:bf16",
        )
    )
    done = subprocess.run(
        [sys.executable, "-m", "ftwidgets.engine.trainer", str(job.path)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    said = any("frozen base weights are loaded in bfloat16" in e["message"] for e in job.events())
    assert said == machine.cpu_has_native_bf16()
    adapter = load_file(job.model_dir / "adapter_model.safetensors")
    assert {str(w.dtype) for w in adapter.values()} == {"torch.float32"}  # LoRA trains in float32
