"""Any causal LM in a local folder works as a base model when the operator offers it.

A tiny Llama built from a config (random weights, SmolLM2's tokenizer) trains in seconds,
so this covers the generic path: loading from a folder, naming, adapters, serving.
"""

from ftwidgets.data.dataset import load_jsonl
from ftwidgets.engine import models, start

from ..conftest import SAMPLES
from .conftest import upload, wait_for


def test_fine_tune_and_chat_with_an_operator_supplied_base(tmp_path, tiny_llama):
    tiny_model = str(tiny_llama)
    handle = start(tmp_path / "engine", api_key="k", threads=1, base_models=(models.DEFAULT_BASE_MODEL, tiny_model))
    try:
        client = handle.client(max_retries=0, _strict_response_validation=True)
        assert tiny_model in [m.id for m in client.models.list()]
        f = upload(client, load_jsonl(SAMPLES / "math_tutor.jsonl")[:24])
        job = client.fine_tuning.jobs.create(
            model=tiny_model,
            training_file=f.id,
            suffix="tiny",
            hyperparameters={"n_epochs": 2, "batch_size": 8},
            metadata={"allow_small_dataset": "true"},
        )
        job = wait_for(client, job.id, timeout=300)
        assert job.status == "succeeded", job.error
        assert job.fine_tuned_model.startswith("ft:tiny-llama")
        ckpts = client.fine_tuning.jobs.checkpoints.list(job.id).data
        assert [c.step_number for c in ckpts] == [6, 3]  # one per epoch, newest first
        r = client.chat.completions.create(
            model=job.fine_tuned_model,
            messages=[{"role": "user", "content": "Solve 1 + 2."}],
            max_tokens=5,
            temperature=0,
        )
        assert r.choices[0].finish_reason in ("stop", "length") and r.usage.completion_tokens <= 6
        base = client.chat.completions.create(
            model=tiny_model, messages=[{"role": "user", "content": "hi"}], max_tokens=3, seed=1
        )
        assert base.usage.prompt_tokens > 0
    finally:
        handle.stop()


def test_another_architecture_gets_lora_where_it_has_attention(tmp_path):
    """GPT-2 names its attention projection c_attn and its layer stack h: LoRA follows PEFT's choice for it,
    on the top layers (a 2-epoch job), and the job trains and chats like any other."""
    import json

    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    folder = tmp_path / "tiny-gpt2"
    tok = AutoTokenizer.from_pretrained(models.ensure_converted())
    GPT2LMHeadModel(
        GPT2Config(
            vocab_size=len(tok),
            n_embd=32,
            n_layer=12,
            n_head=2,
            n_positions=512,
            bos_token_id=tok.bos_token_id,
            eos_token_id=tok.eos_token_id,
        )
    ).save_pretrained(folder)
    tok.save_pretrained(folder)
    handle = start(tmp_path / "engine", api_key="k", threads=1, base_models=(str(folder),))
    try:
        client = handle.client(max_retries=0, _strict_response_validation=True)
        f = upload(client, load_jsonl(SAMPLES / "math_tutor.jsonl")[:24])
        job = client.fine_tuning.jobs.create(
            model=str(folder),
            training_file=f.id,
            hyperparameters={"n_epochs": 2, "batch_size": 8},
            metadata={"allow_small_dataset": "true"},
        )
        job = wait_for(client, job.id, timeout=300)
        assert job.status == "succeeded", job.error
        said = [e.message for e in client.fine_tuning.jobs.list_events(job.id, limit=100)]
        assert any(m.startswith("LoRA adapts c_attn in this model (PEFT's choice for gpt2 models") for m in said), said
        adapter = json.loads((handle.data_dir / "jobs" / job.id / "model" / "adapter_config.json").read_text())
        assert adapter["target_modules"] == ["c_attn"] and adapter["layers_pattern"] == "h"
        assert adapter["layers_to_transform"] == list(range(2, 12))  # the top 10 of 12
        r = client.chat.completions.create(
            model=job.fine_tuned_model, messages=[{"role": "user", "content": "Solve 1 + 2."}], max_tokens=4
        )
        assert r.usage.completion_tokens <= 4
    finally:
        handle.stop()
