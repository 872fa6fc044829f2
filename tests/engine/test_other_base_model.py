"""Any causal LM in a local folder works as a base model when the operator offers it.

A tiny Llama built from a config (random weights, SmolLM2's tokenizer) trains in seconds,
so this covers the generic path: loading from a folder, naming, adapters, serving.
"""

import pytest

from ftwidgets.dataset import load_jsonl
from ftwidgets.engine import models, start

from ..conftest import SAMPLES
from .conftest import upload, wait_for


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    folder = tmp_path_factory.mktemp("tiny-llama")
    tok = AutoTokenizer.from_pretrained(models.ensure_converted())
    config = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=512,
                         bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    LlamaForCausalLM(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return str(folder)


def test_fine_tune_and_chat_with_an_operator_supplied_base(tmp_path, tiny_model):
    handle = start(tmp_path / "engine", api_key="k", threads=1,
                   base_models=(models.DEFAULT_BASE_MODEL, tiny_model))
    try:
        client = handle.client(max_retries=0, _strict_response_validation=True)
        assert tiny_model in [m.id for m in client.models.list()]
        f = upload(client, load_jsonl(SAMPLES / "math_tutor.jsonl")[:24])
        job = client.fine_tuning.jobs.create(model=tiny_model, training_file=f.id, suffix="tiny",
                                             hyperparameters={"n_epochs": 2, "batch_size": 8},
                                             metadata={"allow_small_dataset": "true"})
        job = wait_for(client, job.id, timeout=300)
        assert job.status == "succeeded", job.error
        assert job.fine_tuned_model.startswith("ft:tiny-llama")
        ckpts = client.fine_tuning.jobs.checkpoints.list(job.id).data
        assert [c.step_number for c in ckpts] == [6, 3]  # one per epoch, newest first
        r = client.chat.completions.create(model=job.fine_tuned_model, messages=[{"role": "user", "content": "Solve 1 + 2."}],
                                           max_tokens=5, temperature=0)
        assert r.choices[0].finish_reason in ("stop", "length") and r.usage.completion_tokens <= 6
        base = client.chat.completions.create(model=tiny_model, messages=[{"role": "user", "content": "hi"}], max_tokens=3, seed=1)
        assert base.usage.prompt_tokens > 0
    finally:
        handle.stop()
