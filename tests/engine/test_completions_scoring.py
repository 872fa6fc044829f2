"""``/v1/completions`` scores a text through the official client (strict parsing): each token's log-probability
(the first given the start of a text), the same for a text alone or in a list, lower for shuffled words than for
plain English, different under a fine-tuned adapter; anything but scoring is refused by name."""

from __future__ import annotations

import math

import openai
import pytest

from .conftest import tiny_job

PLAIN = "The morning market opens before the sun is fully up, and the first customers arrive with baskets."
NOISE = "market the sun up before customers baskets fully first the opens arrive morning with and is."


def score(client, model, prompt):
    return client.completions.create(model=model, prompt=prompt, max_tokens=0, echo=True, logprobs=0)


def loss(choice) -> float:
    values = [v for v in choice.logprobs.token_logprobs if v is not None]
    return -sum(values) / len(values)


def test_a_text_is_scored_token_by_token(client):
    one = score(client, "smollm2-135m-instruct", PLAIN)
    (choice,) = one.choices
    assert choice.text == PLAIN and all(v < 0 for v in choice.logprobs.token_logprobs)  # the first given the start
    assert "".join(choice.logprobs.tokens) == PLAIN and len(choice.logprobs.text_offset) == len(choice.logprobs.tokens)
    assert one.usage.prompt_tokens == len(choice.logprobs.tokens) and one.usage.completion_tokens == 0
    both = score(client, "smollm2-135m-instruct", [PLAIN, NOISE])
    assert [c.index for c in both.choices] == [0, 1]
    assert math.isclose(loss(both.choices[0]), loss(choice), rel_tol=1e-3)
    assert loss(both.choices[1]) > loss(both.choices[0]) + 0.5  # shuffled words surprise the model


def test_a_fine_tuned_model_scores_with_its_adapter(tmp_path, tiny_llama):
    from ftwidgets.engine import models, start

    tiny = str(tiny_llama)
    handle = start(tmp_path / "engine", api_key="k", threads=1, base_models=(models.DEFAULT_BASE_MODEL, tiny))
    try:
        client = openai.OpenAI(base_url=handle.base_url, api_key="k", max_retries=0, _strict_response_validation=True)
        tuned = tiny_job(client, tiny).fine_tuned_model
        base, after = score(client, tiny, PLAIN), score(client, tuned, PLAIN)
        assert loss(after.choices[0]) != pytest.approx(loss(base.choices[0]), abs=1e-6)
    finally:
        handle.stop()


def test_anything_but_scoring_is_refused(client):
    for kwargs, param in ((dict(max_tokens=16, echo=True), "max_tokens"), (dict(max_tokens=0), "echo")):
        with pytest.raises(openai.BadRequestError) as refused:
            client.completions.create(model="smollm2-135m-instruct", prompt=PLAIN, logprobs=0, **kwargs)
        assert refused.value.param == param and "chat completions" in refused.value.message
    with pytest.raises(openai.NotFoundError):
        score(client, "no-such-model", PLAIN)
