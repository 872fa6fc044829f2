"""``POST /v1/responses`` through the official client with strict validation: the same serving as chat completions
behind OpenAI's Responses shape, streamed or whole, for base and fine-tuned models; what it cannot honour is a 400
that names the parameter."""

import openai
import pytest

from ftwidgets.engine import models, start

from .conftest import tiny_job

BASE = models.DEFAULT_BASE_MODEL
QUESTION = "What is 2 + 3?"


def chat_text(client, model, messages, max_tokens):
    r = client.chat.completions.create(model=model, messages=messages, temperature=0, max_tokens=max_tokens)
    return r.choices[0].message.content


def streamed(client, **kw):
    events = list(client.responses.create(stream=True, **kw))
    return events, "".join(e.delta for e in events if e.type == "response.output_text.delta")


def test_a_plain_response_is_the_chat_answer_in_openais_shape(client):
    r = client.responses.create(model=BASE, input=QUESTION, temperature=0, max_output_tokens=24, metadata={"run": "1"})
    assert r.object == "response" and r.id.startswith("resp_") and r.model == BASE and r.metadata == {"run": "1"}
    assert len(r.output) == 1 and r.output[0].type == "message" and r.output[0].role == "assistant"
    assert r.output[0].content[0].type == "output_text" and r.output_text.strip()
    assert r.output_text == chat_text(client, BASE, [{"role": "user", "content": QUESTION}], 24)
    assert r.usage.input_tokens > 0 and 0 < r.usage.output_tokens <= 24
    assert r.usage.total_tokens == r.usage.input_tokens + r.usage.output_tokens
    assert r.status == "completed" or r.incomplete_details.reason == "max_output_tokens"


def test_instructions_and_message_lists_become_the_chat_conversation(client):
    instructions = "Answer with one word."
    turns = [
        {"role": "user", "content": "Name a colour."},
        {"role": "assistant", "content": "Blue."},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Another one?"}]},
    ]
    r = client.responses.create(model=BASE, instructions=instructions, input=turns, temperature=0, max_output_tokens=12)
    as_chat = [{"role": "system", "content": instructions}] + [
        {"role": t["role"], "content": "Another one?" if isinstance(t["content"], list) else t["content"]}
        for t in turns
    ]
    assert r.instructions == instructions and r.output_text == chat_text(client, BASE, as_chat, 12)


def test_max_output_tokens_cuts_the_answer_and_says_so(client):
    r = client.responses.create(
        model=BASE, input="Write a long story about a dragon.", max_output_tokens=3, temperature=0
    )
    assert r.status == "incomplete" and r.incomplete_details.reason == "max_output_tokens"
    assert r.usage.output_tokens == 3 and r.output[0].status == "incomplete"


def test_the_stream_sends_the_documented_events_in_order_and_the_same_text(client):
    plain = client.responses.create(model=BASE, input=QUESTION, temperature=0, max_output_tokens=24)
    events, text = streamed(client, model=BASE, input=QUESTION, temperature=0, max_output_tokens=24)
    kinds = [e.type for e in events]
    deltas = kinds.count("response.output_text.delta")
    assert deltas >= 1 and kinds == (
        ["response.created", "response.in_progress", "response.output_item.added", "response.content_part.added"]
        + ["response.output_text.delta"] * deltas
        + [
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed" if plain.status == "completed" else "response.incomplete",
        ]
    )
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert text == plain.output_text == events[-1].response.output_text
    assert events[-4].text == text and events[0].response.status == "in_progress"
    assert events[-1].response.usage.output_tokens == plain.usage.output_tokens
    assert len({e.item_id for e in events if hasattr(e, "item_id")}) == 1


@pytest.mark.parametrize(
    "kw, param",
    [
        (
            dict(tools=[{"type": "function", "name": "add", "parameters": {"type": "object", "properties": {}}}]),
            "tools",
        ),
        (dict(tool_choice="required"), "tool_choice"),
        (dict(previous_response_id="resp_123"), "previous_response_id"),
        (dict(conversation="conv_123"), "conversation"),
        (dict(background=True), "background"),
        (dict(store=True), "store"),
        (dict(include=["message.output_text.logprobs"]), "include"),
        (dict(text={"format": {"type": "json_object"}}), "text.format"),
        (dict(reasoning={"effort": "high"}), "reasoning"),
        (
            dict(
                input=[{"role": "user", "content": [{"type": "input_image", "image_url": "https://example.com/a.png"}]}]
            ),
            "input[0].content[0]",
        ),
        (dict(input=[{"type": "function_call_output", "call_id": "c1", "output": "4"}]), "input[0].type"),
        (dict(extra_body={"frequency_penalty": 1}), "frequency_penalty"),
    ],
)
def test_what_the_engine_cannot_honour_is_a_400_naming_it(client, kw, param):
    kw.setdefault("input", "hi")
    with pytest.raises(openai.BadRequestError) as e:
        client.responses.create(model=BASE, max_output_tokens=4, **kw)
    assert e.value.status_code == 400 and e.value.param == param, e.value.body
    assert e.value.body["type"] == "invalid_request_error"


def test_harmless_settings_are_accepted_and_unknown_models_are_404(client):
    r = client.responses.create(
        model=BASE,
        input="hi",
        max_output_tokens=2,
        store=False,
        tool_choice="auto",
        truncation="disabled",
        text={"format": {"type": "text"}},
        reasoning={},
        include=["reasoning.encrypted_content"],
        user="learner-1",
        parallel_tool_calls=True,
    )
    assert r.usage.output_tokens <= 2
    with pytest.raises(openai.NotFoundError) as e:
        client.responses.create(model="ft:nope", input="hi")
    assert e.value.code == "model_not_found" and e.value.param == "model"


def test_a_fine_tuned_model_and_its_checkpoint_answer_as_in_chat(tmp_path, tiny_llama):
    handle = start(tmp_path / "engine", api_key="k", threads=1, base_models=(str(tiny_llama),))
    try:
        client = handle.client(max_retries=0, _strict_response_validation=True)
        job = tiny_job(client, str(tiny_llama))
        checkpoint = client.fine_tuning.jobs.checkpoints.list(job.id).data[-1].fine_tuned_model_checkpoint
        for model in (job.fine_tuned_model, checkpoint):
            r = client.responses.create(model=model, input="Solve 1 + 2.", temperature=0, max_output_tokens=8)
            assert r.model == model and r.output_text == chat_text(
                client, model, [{"role": "user", "content": "Solve 1 + 2."}], 8
            )
            _, text = streamed(client, model=model, input="Solve 1 + 2.", temperature=0, max_output_tokens=8)
            assert text == r.output_text
    finally:
        handle.stop()
