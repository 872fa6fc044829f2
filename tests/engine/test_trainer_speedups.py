"""Each trainer speed-up claims an equivalence or a property; these check them on a tiny model of SmolLM2's
shape (random weights, so they run in seconds and need no download)."""

import random

import pytest
import torch
from peft import get_peft_model
from transformers import LlamaConfig, LlamaForCausalLM

from ftwidgets.engine.chat import IGNORE
from ftwidgets.engine.frozen_prefix import FrozenPrefix, supports
from ftwidgets.engine.lora import LoraSettings, lora_config
from ftwidgets.engine.training_run import _batches, train_step

LORA = LoraSettings(r=4, alpha=8, dropout=0.0, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"])


def tiny(layers: int = 4, lora: LoraSettings = LORA):
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=120,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        tie_word_embeddings=True,
    )
    return get_peft_model(LlamaForCausalLM(config), lora_config(lora, layers))


def examples(n: int, seed: int = 1) -> list:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        length = rng.randint(6, 30)
        ids = [rng.randrange(1, 120) for _ in range(length)]
        prompt = rng.randint(2, length - 2)
        out.append((ids, [IGNORE] * prompt + ids[prompt:]))
    return out


def grads(model) -> dict:
    return {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}


def assert_same_step(reference, candidate, batch, reference_options: dict, candidate_options: dict) -> None:
    """One training step of each model on `batch`: the same loss, accuracy and LoRA gradients."""
    loss_ref, acc_ref, _ = train_step(reference, batch, 0, "cpu", **reference_options)
    loss, acc, _ = train_step(candidate, batch, 0, "cpu", **candidate_options)
    assert loss == pytest.approx(loss_ref, rel=1e-5) and acc == pytest.approx(acc_ref)
    g_ref, g = grads(reference), grads(candidate)
    assert g_ref.keys() == g.keys() and g_ref
    for k in g_ref:
        torch.testing.assert_close(g[k], g_ref[k], rtol=1e-4, atol=1e-6)


def test_logits_at_labelled_positions_only_give_the_same_loss_and_gradients():
    assert_same_step(tiny(), tiny(), examples(4), {"labelled_only": False}, {"labelled_only": True})


def test_lora_on_the_top_layers_only_trains_those_layers():
    model = tiny(layers=4, lora=LORA.model_copy(update={"layers": 2}))
    trainable = {k for k, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(".layers.2." in k or ".layers.3." in k for k in trainable)
    train_step(model, examples(2), 0, "cpu")
    assert all(p.grad is not None for k, p in model.named_parameters() if p.requires_grad)
    assert {k for k, p in model.named_parameters() if p.grad is not None} == trainable


def test_length_buckets_see_every_example_once_and_pad_less():
    data = examples(200)
    plain = list(_batches(data, 4, random.Random(3)))
    bucketed = list(_batches(data, 4, random.Random(3), bucket=16))
    as_set = lambda batches: sorted(tuple(ids) for b in batches for ids, _ in b)  # noqa: E731
    assert as_set(bucketed) == as_set(plain) == sorted(tuple(ids) for ids, _ in data)
    padded = lambda batches: sum(len(b) * max(len(ids) for ids, _ in b) for b in batches)  # noqa: E731
    assert padded(bucketed) < 0.8 * padded(plain)
    assert list(_batches(data, 4, random.Random(3), bucket=16)) == bucketed  # seeded: the same order again


def test_reused_frozen_layers_give_the_same_loss_and_gradients_and_are_computed_once(tmp_path):
    top2 = LORA.model_copy(update={"layers": 2})
    batch = examples(4)
    plain, fast = tiny(layers=4, lora=top2), tiny(layers=4, lora=top2)
    prefix = FrozenPrefix(fast.get_base_model().get_decoder(), 2, tmp_path / "prefix.bin")
    assert_same_step(plain, fast, batch, {}, {"prefix": prefix})
    assert (prefix.computed, prefix.reused) == (4, 0)
    # a second pass, in other batches with other padding, reads every example back and still agrees
    again = train_step(fast, [batch[2], batch[0]], 0, "cpu", prefix=prefix)[0]
    assert again == pytest.approx(train_step(plain, [batch[2], batch[0]], 0, "cpu")[0], rel=1e-5)
    assert (prefix.computed, prefix.reused) == (4, 2)
    prefix.close()
    assert not (tmp_path / "prefix.bin").exists()


def test_shapes_rounded_for_half_precision_give_the_same_loss_and_gradients(tmp_path, monkeypatch):
    """bfloat16 rounds each part's width and the output layer's rows up to a multiple of 8 (zero padding that
    nothing reads). Checked in float32 with the rounding forced, where any leak of the padding would show."""
    from ftwidgets.engine import models

    top2 = LORA.model_copy(update={"layers": 2})
    batch = examples(4)  # lengths 6-30: none a multiple of 8 by design of the check below
    exact, rounded = tiny(layers=4, lora=top2), tiny(layers=4, lora=top2)
    prefix = FrozenPrefix(rounded.get_base_model().get_decoder(), 2, tmp_path / "prefix.bin")
    seen = []
    original_linear = torch.nn.functional.linear

    def linear(x, *args):
        seen.append(x.shape[-2] if x.dim() == 2 else x.shape[-2] * x.shape[0])
        return original_linear(x, *args)

    reference = train_step(exact, batch, 0, "cpu", max_tokens=40)
    monkeypatch.setattr(models, "row_multiple", lambda dtype: 8)
    monkeypatch.setattr(torch.nn.functional, "linear", linear)
    loss, acc, n_tokens = train_step(rounded, batch, 0, "cpu", max_tokens=40, prefix=prefix)
    assert (
        loss == pytest.approx(reference[0], rel=1e-5)
        and acc == pytest.approx(reference[1])
        and n_tokens == reference[2]
    )
    assert seen and all(rows % 8 == 0 for rows in seen)  # every matrix product saw rounded rows
    g_ref, g = grads(exact), grads(rounded)
    assert g_ref.keys() == g.keys() and g_ref
    for k in g_ref:
        torch.testing.assert_close(g[k], g_ref[k], rtol=1e-4, atol=1e-6)
    prefix.close()


def test_the_frozen_layers_are_reused_only_where_they_are_deterministic():
    decoder = tiny().get_base_model().get_decoder()
    assert supports(decoder, 2)
    assert not supports(decoder, 0) and not supports(decoder, 4)  # nothing below, or nothing trainable above
    decoder.config.attention_dropout = 0.1
    assert not supports(decoder, 2)  # dropout would make every pass differ


def test_lora_goes_to_the_top_third_of_the_layers_from_two_epochs_and_the_top_half_in_one():
    """Measured: one epoch on the top third alone learned the format worse; on the top half, as well as every layer."""
    from ftwidgets.engine.lora import lora_for

    assert lora_for(1).layers == 15 and lora_for(2).layers == lora_for(3).layers == 10


def sft_run(tiny_llama, tmp_path, name: str, **changes):
    """A supervised job's run on the tiny Llama: 24 training and 6 validation pirate examples, 2 epochs of batch 4,
    LoRA on the top 2 of its 4 layers."""
    from ftwidgets.engine.contract import JobFolder, TrainerSpec
    from ftwidgets.engine.supervised import SupervisedRun

    from .test_early_stopping_job import pirate
    from .test_preference import write

    folder = JobFolder(tmp_path / name)
    folder.path.mkdir()
    spec = TrainerSpec(
        job_id="ftjob-sft",
        base_model=str(tiny_llama),
        training_path=write(tmp_path / "t.jsonl", pirate(1, 24)),
        validation_path=write(tmp_path / "v.jsonl", pirate(2, 6)),
        n_epochs=2,
        batch_size=4,
        learning_rate=2e-3,
        seed=1,
        threads=1,
        max_seq_len=256,
        lora=LORA.model_copy(update={"layers": 2}),
        cpu_bf16=False,
        fine_tuned_model="ft:tiny:sft",
    )
    return SupervisedRun(spec.model_copy(update=changes), folder), folder


def test_a_job_stores_every_frozen_output_first_then_drops_the_frozen_layers(tiny_llama, tmp_path):
    """Before its first step a single-process job stores the frozen layers' output of every training and validation
    example and replaces those layers with stubs that refuse to run; its numbers are those of running every layer."""
    plain, _ = sft_run(tiny_llama, tmp_path, "plain", reuse_frozen_layers=False)
    fast, folder = sft_run(tiny_llama, tmp_path, "fast", reuse_frozen_layers=True)
    distinct = {tuple(ids) for ids, _ in fast.train_data + fast.valid_data}
    assert (fast.prefix.computed, fast.prefix.reused) == (len(distinct), 0)
    layers = fast.model.get_base_model().get_decoder().layers
    assert [type(layer).__name__ for layer in layers[:2]] == ["DroppedLayer"] * 2
    with pytest.raises(RuntimeError, match="frozen layer 0 was dropped"):
        layers[0](torch.zeros(1, 3, 32))
    prefix = fast.prefix
    assert plain.run().status == fast.run().status == "succeeded"
    assert prefix.computed == len(distinct) and prefix.reused > 0  # nothing computed after the layers went
    losses = lambda run: [(r["step"], k, v) for r in run.rows for k, v in r.items() if "loss" in k and v is not None]  # noqa: E731
    assert [x[:2] for x in losses(fast)] == [x[:2] for x in losses(plain)] and losses(plain)
    assert [x[2] for x in losses(fast)] == pytest.approx([x[2] for x in losses(plain)], rel=1e-5)
    stored = [e for e in folder.events() if "frozen layers' output was stored" in e["message"]]
    assert stored and stored[0]["data"]["stored"] == len(distinct)
