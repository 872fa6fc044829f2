"""The decode loop: greedy answers token for token as `generate` gives each prompt alone, however many rows share a
step; ended rows making room for waiting prompts; the token budget; a shared prefix read once; and sampling from the
distribution asked for."""

from __future__ import annotations

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from ftwidgets.engine.decoding import ContinuousBatch, draw

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


def alone(model, prompt: list[int], limit: int) -> list[int]:
    """What `generate` answers to one prompt on its own (no batch, no padding), cut at its first end token."""
    ids = torch.tensor([prompt])
    want = model.generate(
        input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=limit, do_sample=False, eos_token_id=EOS
    )[0, len(prompt) :].tolist()
    return want[: next((j + 1 for j, t in enumerate(want) if t == EOS), len(want))]


def recorded(model) -> list[tuple[int, int]]:
    """(rows, columns) of every forward call's input."""
    shapes: list[tuple[int, int]] = []
    model.register_forward_hook(
        lambda module, args, kwargs, out: shapes.append(tuple(kwargs["input_ids"].shape)), with_kwargs=True
    )
    return shapes


@pytest.mark.parametrize("max_rows", [32, 2, 1])
def test_greedy_answers_are_generates_for_each_prompt_alone_however_the_rows_are_shared(max_rows):
    model = tiny_model()
    limits = [12, 5, 20, 9]
    done: list[int] = []
    with torch.no_grad():
        batch = ContinuousBatch(model, pad=0, eos={EOS}, max_rows=max_rows)
        ours = batch.run(PROMPTS, limits, lambda k, out: done.append(k))
        assert ours == [alone(model, p, limit) for p, limit in zip(PROMPTS, limits)]
    assert sorted(done) == [0, 1, 2, 3]  # each handed over once, when it was finished


def test_an_ended_row_makes_room_for_a_waiting_prompt():
    model = tiny_model()
    shapes = recorded(model)
    with torch.no_grad():
        out = ContinuousBatch(model, pad=0, eos=set(), max_rows=2).run(PROMPTS, [2, 4, 6, 8])  # no end token
    assert [len(o) for o in out] == [2, 4, 6, 8]
    steps = [rows for rows, cols in shapes if cols == 1]
    assert max(steps) == 2 and min(steps) >= 1
    # a waiting prompt joins as soon as a row ends: 2 rows at a time all along, not 4 sequential answers
    assert len(steps) < sum([2, 4, 6, 8]) - len(PROMPTS)


def test_rows_times_width_stay_within_the_token_budget():
    model = tiny_model()
    shapes = recorded(model)
    with torch.no_grad():  # each row holds its 7 prompt tokens and room for 6 more: 2 rows fit 26 positions
        out = ContinuousBatch(model, pad=0, eos=set(), max_rows=32, max_tokens=26).run([PROMPTS[2]] * 6, [6] * 6)
    assert [len(o) for o in out] == [6] * 6
    assert max(rows for rows, cols in shapes) == 2


def test_a_shared_prefix_is_read_once_per_group_and_changes_no_answer():
    model = tiny_model()
    tutor = [4 + k % 59 for k in range(70)]  # 70 tokens: a system prompt and worked examples
    other = [5 + k % 57 for k in range(70)]
    prompts = [tutor + p for p in PROMPTS] + [other + p for p in PROMPTS] + [[6, 7]]
    limits = [7] * len(prompts)
    with torch.no_grad():
        want = [alone(model, p, 7) for p in prompts]
        shapes = recorded(model)
        ours = ContinuousBatch(model, pad=0, eos={EOS}, max_rows=3).run(prompts, limits)
    assert ours == want
    prefixes = [cols for rows, cols in shapes if rows == 1 and cols >= 64]
    assert sorted(prefixes) == [70, 70]  # each group's prefix once (each keeps its last token: 70 of 71-77)
    assert all(cols <= 8 for rows, cols in shapes if rows > 1)  # the prompts' own tokens, never the prefix again


def test_sampling_draws_from_the_softmax_at_the_temperature_and_keeps_to_the_nucleus():
    torch.manual_seed(1)
    logits = torch.tensor([[2.0, 1.0, 0.0, -1.0, -30.0]]).repeat(100_000, 1)
    for temperature in (1.0, 0.5):
        counts = torch.bincount(draw(logits, temperature, 1.0), minlength=5) / len(logits)
        assert counts.tolist() == pytest.approx((logits[0] / temperature).softmax(-1).tolist(), abs=0.01)
    nucleus = torch.bincount(draw(logits, 1.0, 0.8), minlength=5) / len(logits)  # the top two hold 0.88
    assert nucleus[2:].sum() == 0 and float(nucleus[0]) == pytest.approx(0.644 / 0.881, abs=0.01)
    assert draw(logits[:3], 0.0, 1.0).tolist() == [0, 0, 0]  # temperature 0: the most likely
