"""bfloat16 frozen weights: used by the trainer only on a CPU that multiplies bfloat16 in hardware and only
when memory is not tight; LoRA's own weights stay float32 either way."""

import subprocess
import sys

from safetensors.torch import load_file

from ftwidgets.dataset import load_jsonl, write_jsonl
from ftwidgets.engine import models
from ftwidgets.engine.contract import JobFolder, LoraSettings, TrainerSpec
from ftwidgets.engine.jobs import default_cpu_bf16

from ..conftest import SAMPLES


def test_bfloat16_only_when_memory_is_not_tight(monkeypatch):
    monkeypatch.setenv("FTW_MAX_BATCH_TOKENS", "128")  # what binder/start and the 2 GB workbook run set
    assert default_cpu_bf16() is False
    monkeypatch.setenv("FTW_MAX_BATCH_TOKENS", "0")  # unlimited
    assert default_cpu_bf16() is True


def test_the_trainer_says_which_precision_it_trains_in(tmp_path, tiny_llama):
    train = tmp_path / "train.jsonl"
    write_jsonl(train, load_jsonl(SAMPLES / "math_tutor.jsonl")[:12])
    job = JobFolder(tmp_path / "job")
    job.path.mkdir()
    job.write_spec(TrainerSpec(job_id="ftjob-bf16", base_model=str(tiny_llama), training_path=str(train), n_epochs=1,
                               batch_size=4, learning_rate=2e-3, seed=1, threads=1, max_seq_len=256, cpu_bf16=True,
                               lora=LoraSettings(r=4, alpha=8, dropout=0.0, target_modules=["q_proj", "v_proj"]),
                               fine_tuned_model="ft:tiny:bf16"))
    done = subprocess.run([sys.executable, "-m", "ftwidgets.engine.trainer", str(job.path)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    said = any("frozen base weights are loaded in bfloat16" in e["message"] for e in job.events())
    assert said == models.cpu_has_native_bf16()
    adapter = load_file(job.model_dir / "adapter_model.safetensors")
    assert {str(w.dtype) for w in adapter.values()} == {"torch.float32"}  # LoRA trains in float32
