"""An engine per test module, driven only through the official `openai` client (strict parsing)."""

from __future__ import annotations

import io
import json

import pytest
from openai import OpenAI

from ftwidgets.engine import start


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    handle = start(tmp_path_factory.mktemp("engine"), threads=1, api_key="test-key-123")
    yield handle
    handle.stop()


@pytest.fixture(scope="module")
def client(engine) -> OpenAI:
    return OpenAI(base_url=engine.base_url, api_key=engine.api_key, max_retries=0, _strict_response_validation=True)


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory):
    """A Llama of 4 small layers with random weights and SmolLM2's tokenizer, saved as a local base model folder:
    it trains in seconds, so the generic paths (another base model, several processes) run in every test run."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from ftwidgets.engine import models

    folder = tmp_path_factory.mktemp("tiny-llama")
    tok = AutoTokenizer.from_pretrained(models.ensure_converted())
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=4,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=512,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def upload(client: OpenAI, examples_or_bytes, name: str = "train.jsonl"):
    if isinstance(examples_or_bytes, bytes):
        data = examples_or_bytes
    else:
        data = "".join(json.dumps(e) + "\n" for e in examples_or_bytes).encode()
    buf = io.BytesIO(data)
    buf.name = name
    return client.files.create(file=buf, purpose="fine-tune")


def wait_for(client: OpenAI, job_id: str, statuses=("succeeded", "failed", "cancelled"), timeout: float = 900):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.fine_tuning.jobs.retrieve(job_id)
        if job.status in statuses:
            return job
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} still {job.status} after {timeout} s")


def tiny_job(client: OpenAI, model: str, **create):
    """A finished 2-epoch job on 24 math-tutor examples (seconds on a tiny base model): a fine-tuned model to use."""
    from ftwidgets.data.dataset import load_jsonl

    from ..conftest import SAMPLES

    f = upload(client, load_jsonl(SAMPLES / "math_tutor.jsonl")[:24])
    job = client.fine_tuning.jobs.create(
        model=model,
        training_file=f.id,
        metadata={"allow_small_dataset": "true"},
        hyperparameters={"n_epochs": 2, "batch_size": 8},
        **create,
    )
    job = wait_for(client, job.id, timeout=300)
    assert job.status == "succeeded", job.error
    return job
