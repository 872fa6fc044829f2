"""The memory pre-flight: a job whose base model cannot fit is refused with the numbers before a trainer starts."""

import json

import pytest
from transformers import AutoModelForCausalLM

from ftwidgets.data.dataset import load_jsonl
from ftwidgets.engine import memory_plan, models, start
from ftwidgets.engine.memory_plan import GB, MemoryPlan

from ..conftest import SAMPLES
from .conftest import upload, wait_for

LLAMA_70B = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 8192,
    "intermediate_size": 28672,
    "num_hidden_layers": 80,
    "num_attention_heads": 64,
    "num_key_value_heads": 8,
    "vocab_size": 128256,
    "max_position_embeddings": 8192,
    "tie_word_embeddings": False,
}


def test_weights_are_counted_without_loading_them(tiny_llama, tmp_path):
    real = sum(p.numel() for p in AutoModelForCausalLM.from_pretrained(tiny_llama).parameters())
    assert memory_plan.safetensors_parameters(tiny_llama) == real
    (tmp_path / "config.json").write_text((tiny_llama / "config.json").read_text())  # the config alone
    assert memory_plan.parameters(str(tmp_path)) == real
    assert memory_plan.parameters("some-org/not-on-this-disk") is None


def test_a_plan_refuses_what_cannot_fit_and_says_by_how_much():
    small = MemoryPlan("m", 135_000_000, 1, (), available=int(2 * GB))
    assert small.refusal() is None  # SmolLM2: 0.54 GB of float32 weights + the trainer, under 2 GB
    two = MemoryPlan("m", 135_000_000, 2, (), available=int(1.5 * GB))
    assert "x 2 processes = 2.1 GB" in two.refusal() and "FTW_TRAIN_PROCESSES" in two.refusal()
    gpu = MemoryPlan("m", 8_000_000_000, 1, (int(24 * GB),), available=None, weights_dtype="bfloat16")
    assert gpu.refusal() is None  # 8 B weights in bfloat16: 16 GB on a 24 GB GPU
    assert (
        "16.5 GB per training process" in MemoryPlan("m", 8_000_000_000, 1, (int(16 * GB),), None, "bfloat16").refusal()
    )
    assert "has 1 GPU(s)" in MemoryPlan("m", 1000, 2, (int(80 * GB),), None, "bfloat16").refusal()
    cpu_bf16 = MemoryPlan("m", 4_000_000_000, 1, (), available=int(10 * GB), weights_dtype="bfloat16")
    assert cpu_bf16.refusal() is None  # 8 GB in bfloat16 fits where 16 GB in float32 would not
    assert MemoryPlan("m", 10**12, 1, (), available=None).refusal() is None  # unknown memory: no refusal on a guess


@pytest.fixture
def llama_70b_folder(tmp_path):
    from transformers import AutoTokenizer

    folder = tmp_path / "llama-70b-config-only"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(LLAMA_70B))
    AutoTokenizer.from_pretrained(models.ensure_converted()).save_pretrained(folder)
    return folder


def test_an_impossible_job_is_refused_before_any_trainer_starts(tmp_path, llama_70b_folder):
    handle = start(tmp_path / "engine", api_key="k", threads=1, base_models=(str(llama_70b_folder),), cpu_bf16=False)
    try:
        client = handle.client(max_retries=0, _strict_response_validation=True)
        f = upload(client, load_jsonl(SAMPLES / "math_tutor.jsonl")[:120])
        job = wait_for(
            client, client.fine_tuning.jobs.create(model=str(llama_70b_folder), training_file=f.id).id, timeout=120
        )
        assert job.status == "failed" and job.error.code == "insufficient_memory" and job.error.param == "model"
        message = job.error.message
        assert "cannot be fine-tuned here" in message and "70,554 M weights as float32: 282.2 GB" in message, message
        assert "GB available" in message
        assert not (handle.data_dir / "jobs" / job.id / "trainer.log").exists()  # refused while validating
    finally:
        handle.stop()
