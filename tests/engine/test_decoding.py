"""The decode loop: greedy answers token for token as `generate` gives them, rows leaving the batch when they end,
and sampling from the distribution asked for."""

from __future__ import annotations

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from ftwidgets.engine.decoding import decode, draw
from ftwidgets.engine.serving import _left_padded

EOS = 3


def tiny_model():
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        pad_token_id=0,
        eos_token_id=EOS,
    )
    return LlamaForCausalLM(config).eval()


PROMPTS = [[5, 9, 12, 7], [8, 22], [30, 31, 32, 33, 34, 35, 36], [4]]


def test_greedy_answers_are_generates_token_for_token_each_row_to_its_own_end():
    model = tiny_model()
    ids, mask = _left_padded(PROMPTS, 7, 0, "cpu")
    limits = [12, 5, 20, 9]
    with torch.no_grad():
        ours = decode(model, ids, mask, limits, {EOS})
        theirs = model.generate(
            input_ids=ids, attention_mask=mask, max_new_tokens=max(limits), do_sample=False, eos_token_id=EOS
        )[:, 7:].tolist()
    for row, (mine, want, limit) in enumerate(zip(ours, theirs, limits)):
        end = next((j + 1 for j, t in enumerate(want) if t == EOS), len(want))
        assert mine == want[: min(end, limit)], row


def test_a_finished_row_leaves_the_batch():
    model = tiny_model()
    widths = []
    model.register_forward_hook(
        lambda module, args, kwargs, out: widths.append(kwargs["input_ids"].shape[0]), with_kwargs=True
    )
    ids, mask = _left_padded(PROMPTS, 7, 0, "cpu")
    with torch.no_grad():
        out = decode(model, ids, mask, [2, 4, 6, 8], set())  # no end token: each row runs to its own limit
    assert [len(o) for o in out] == [2, 4, 6, 8]
    assert widths == [4, 4, 3, 3, 2, 2, 1, 1]  # the prompt, then one step per token, fewer rows as they finish


def test_sampling_draws_from_the_softmax_at_the_temperature_and_keeps_to_the_nucleus():
    torch.manual_seed(1)
    logits = torch.tensor([[2.0, 1.0, 0.0, -1.0, -30.0]]).repeat(100_000, 1)
    for temperature in (1.0, 0.5):
        counts = torch.bincount(draw(logits, temperature, 1.0), minlength=5) / len(logits)
        assert counts.tolist() == pytest.approx((logits[0] / temperature).softmax(-1).tolist(), abs=0.01)
    nucleus = torch.bincount(draw(logits, 1.0, 0.8), minlength=5) / len(logits)  # the top two hold 0.88
    assert nucleus[2:].sum() == 0 and float(nucleus[0]) == pytest.approx(0.644 / 0.881, abs=0.01)
    assert draw(logits[:3], 0.0, 1.0).tolist() == [0, 0, 0]  # temperature 0: the most likely
