"""Training in memory-sized parts (micro-batches) gives the same update as the whole batch."""

import pytest
import torch

from ftwidgets.engine import models, recipe
from ftwidgets.engine.chat import encode_example
from ftwidgets.engine.training_run import micro_batches, train_step
from ftwidgets.runtime import machine

from ..conftest import chat


def test_micro_batches_respect_the_token_budget():
    batch = [([0] * n, [0] * n) for n in (100, 120, 90, 300, 20)]
    parts = micro_batches(batch, 256)
    assert [[len(x[0]) for x in p] for p in parts] == [[100, 120], [90], [300], [20]]  # 2 x 120 fits, 3 x 120 not
    assert all(len(p) == 1 or max(len(x[0]) for x in p) * len(p) <= 256 for p in parts)
    assert micro_batches(batch, None) == [batch]


def test_accumulated_gradients_equal_the_whole_batch():
    from peft import LoraConfig, get_peft_model
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(models.ensure_converted())
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        pad_token_id=tok.eos_token_id,
    )
    base = get_peft_model(
        LlamaForCausalLM(config),
        LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False, task_type="CAUSAL_LM"),
    )
    batch = [
        encode_example(
            tok, chat(f"What is {i} + {i * 7}?", "Step 1: add.\n" * (i % 3 + 1) + f"Answer: {8 * i}")["messages"], 256
        )
        for i in range(5)
    ]

    def grads(max_tokens):
        base.zero_grad()
        loss, acc, n_tokens = train_step(base, batch, tok.eos_token_id, "cpu", max_tokens)
        return loss, acc, n_tokens, [p.grad.clone() for p in base.parameters() if p.requires_grad]

    whole = grads(None)
    parts = grads(60)  # one example per part
    assert len(micro_batches(batch, 60)) == 5
    assert parts[0] == pytest.approx(whole[0], rel=1e-5) and parts[1] == pytest.approx(whole[1])
    assert parts[2] == whole[2]  # the same real tokens are trained on (billing counts these)
    for a, b in zip(whole[3], parts[3]):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_memory_limit_picks_the_budget(monkeypatch):
    monkeypatch.setenv("FTW_MAX_BATCH_TOKENS", "0")
    assert recipe.default_max_batch_tokens() is None
    monkeypatch.setenv("FTW_MAX_BATCH_TOKENS", "512")
    assert recipe.default_max_batch_tokens() == 512
    monkeypatch.delenv("FTW_MAX_BATCH_TOKENS")
    monkeypatch.setattr(machine, "memory_limit_bytes", lambda: 2 * 2**30)  # mybinder
    monkeypatch.setattr(machine, "cpu_has_native_bf16", lambda: False)
    assert recipe.default_max_batch_tokens() == recipe.TIGHT_MEMORY_BATCH_TOKENS["float32"] == 128
    monkeypatch.setattr(machine, "memory_limit_bytes", lambda: None)
    assert recipe.default_max_batch_tokens() is None


def test_binder_and_the_workbook_runner_use_the_engines_tight_budget():
    """Both name the engine's budget (so their processes need not import the engine) instead of a number that could
    drift."""
    import re

    from ..conftest import ROOT

    start = (ROOT / "binder" / "start").read_text()
    runner = (ROOT / "scripts" / "run_workbook.py").read_text()
    assert re.findall(r"FTW_MAX_BATCH_TOKENS:-(\w+)", start) == [recipe.TIGHT]
    assert re.findall(r'"FTW_MAX_BATCH_TOKENS", "(\w+)"', runner) == [recipe.TIGHT]


@pytest.mark.slow
def test_conversion_keeps_every_gguf_weight(tmp_path, monkeypatch):
    """The one-time GGUF -> safetensors conversion (which assigns the loaded tensors instead of copying
    them, to hold one copy in memory) saves exactly the weights transformers reads from the GGUF file."""
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    monkeypatch.setenv("FTW_MODEL_CACHE", str(tmp_path))
    saved = load_file(models.ensure_converted() / "model.safetensors")
    src = models.gguf_path()
    gguf = AutoModelForCausalLM.from_pretrained(src.parent, gguf_file=src.name, dtype=torch.float32).state_dict()
    assert sorted(saved) == sorted(k for k in gguf if k != "lm_head.weight")  # tied to the embeddings
    for name, tensor in saved.items():
        assert torch.equal(tensor, gguf[name]), name
