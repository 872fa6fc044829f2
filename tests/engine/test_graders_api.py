"""OpenAI's graders on the engine, through the official client with strict response validation: run and validate for
each of the six types, a bad grader's 400 naming its field, a python grader that hangs or crashes stopped within its
limit while the engine keeps serving, and python graders refused on an engine that is not on loopback."""

from __future__ import annotations

import time

import openai
import pytest

from ftwidgets.engine import start

ANSWER = '{"size": "large", "qty": 2}'
ITEM = {"reference_answer": ANSWER, "reference_json": {"size": "large", "qty": 2}}
STRING = {
    "type": "string_check",
    "name": "size",
    "input": "{{sample.output_json.size}}",
    "reference": "{{item.reference_json.size}}",
    "operation": "eq",
}
SIMILAR = {
    "type": "text_similarity",
    "name": "overlap",
    "input": "{{sample.output_text}}",
    "reference": "{{item.reference_answer}}",
    "evaluation_metric": "rouge_l",
}
PYTHON = {
    "type": "python",
    "name": "qty",
    "source": "def grade(sample, item):\n"
    "    return float(sample['output_json']['qty'] == item['reference_json']['qty'])",
}
MODEL_INPUT = [{"role": "user", "content": "Is this a coffee order? {{sample.output_text}}"}]


def run(client, grader, sample=ANSWER, item=ITEM):
    return client.fine_tuning.alpha.graders.run(grader=grader, model_sample=sample, item=item)


def test_string_check_similarity_python_and_multi_score_an_answer(client):
    assert run(client, STRING).reward == 1.0
    assert run(client, STRING, sample='{"size": "small", "qty": 2}').reward == 0.0
    assert run(client, SIMILAR).reward == pytest.approx(1.0)
    assert run(client, PYTHON).reward == 1.0
    multi = {
        "type": "multi",
        "name": "order",
        "graders": {"size": STRING, "qty": PYTHON},
        "calculate_output": "0.5 * size + 0.5 * qty",
    }
    wrong_size = run(client, multi, sample='{"size": "small", "qty": 2}')
    assert wrong_size.reward == 0.5 and wrong_size.sub_rewards == {"size": 0.0, "qty": 1.0}
    assert not wrong_size.metadata.errors.formula_parse_error


def test_a_missing_variable_is_flagged_not_raised(client):
    result = run(client, STRING, sample="not json at all")
    assert result.reward == 0.0 and result.metadata.errors.invalid_variable_error


def test_model_graders_ask_the_engines_own_model(client):
    score = run(
        client,
        {"type": "score_model", "name": "s", "model": "smollm2-135m-instruct", "input": MODEL_INPUT, "range": [0, 10]},
    )
    assert score.metadata.type == "score_model"
    assert 0 <= score.reward <= 10
    assert score.metadata.errors.api_model_grader_parse_error or score.reward == score.metadata.scores["s"]
    label = run(
        client,
        {
            "type": "label_model",
            "name": "l",
            "model": "smollm2-135m-instruct",
            "input": MODEL_INPUT,
            "labels": ["yes", "no"],
            "passing_labels": ["yes"],
        },
    )
    assert label.reward in (0.0, 1.0) and label.metadata.sampled_model_name == "smollm2-135m-instruct"
    unknown = run(client, {"type": "score_model", "name": "s", "model": "no-such-model", "input": MODEL_INPUT})
    assert unknown.reward == 0.0 and unknown.metadata.errors.api_model_grader_server_error


def test_validate_echoes_every_type_and_names_the_bad_field(client):
    for grader in (STRING, SIMILAR, PYTHON):
        assert client.fine_tuning.alpha.graders.validate(grader=grader).grader.name == grader["name"]
    for grader in (
        {"type": "score_model", "name": "s", "model": "smollm2-135m-instruct", "input": MODEL_INPUT},
        {
            "type": "label_model",
            "name": "l",
            "model": "smollm2-135m-instruct",
            "input": MODEL_INPUT,
            "labels": ["a", "b"],
            "passing_labels": ["a"],
        },
        {"type": "multi", "name": "m", "graders": {"size": STRING}, "calculate_output": "size"},
    ):
        answer = client.fine_tuning.alpha.graders.with_raw_response.validate(grader=grader)
        assert answer.http_response.status_code == 200 and answer.http_response.json()["grader"] == grader
    bad_cases = [
        ({**STRING, "operation": "contains"}, "grader.operation"),
        ({**SIMILAR, "evaluation_metric": "meteor"}, "grader.evaluation_metric"),
        ({**PYTHON, "source": "def grade(sample, item)\n    return 1"}, "grader.source"),
        (
            {"type": "multi", "name": "m", "graders": {"a": STRING}, "calculate_output": "a + b"},
            "grader.calculate_output",
        ),
        ({**STRING, "input": "{{answer}}"}, "grader.input"),
        ({"type": "magic", "name": "x"}, "grader.type"),
    ]
    for grader, param in bad_cases:
        with pytest.raises(openai.BadRequestError) as refused:
            client.fine_tuning.alpha.graders.validate(grader=grader)
        assert refused.value.param == param, grader


def test_a_python_grader_that_hangs_or_crashes_is_stopped_and_the_engine_serves_on(client):
    hang = {"type": "python", "name": "hang", "source": "def grade(sample, item):\n    while True:\n        pass\n"}
    started = time.monotonic()
    hung = run(client, hang)
    assert time.monotonic() - started < 30
    assert hung.reward == 0.0 and hung.metadata.errors.unresponsive_reward_error
    crash = {"type": "python", "name": "crash", "source": "import os\ndef grade(sample, item):\n    os._exit(9)\n"}
    crashed = run(client, crash)
    assert crashed.metadata.errors.python_grader_server_error
    assert "exited with code 9" in crashed.metadata.errors.python_grader_server_error_type
    text = {"type": "python", "name": "text", "source": "def grade(sample, item):\n    return 'high'\n"}
    wrong = run(client, text)
    assert wrong.metadata.errors.python_grader_runtime_error
    assert "not a number" in wrong.metadata.errors.python_grader_runtime_error_details
    greedy = {
        "type": "python",
        "name": "greedy",
        "source": "def grade(sample, item):\n    return len(bytearray(2**33))\n",
    }
    assert "MemoryError" in run(client, greedy).metadata.errors.python_grader_runtime_error_details
    assert run(client, PYTHON).reward == 1.0  # still serving, and the good grader still runs
    assert client.models.list().data


def test_python_graders_are_refused_beyond_loopback_unless_allowed(tmp_path):
    handle = start(tmp_path / "engine", threads=1, api_key="k", python_graders=False)
    try:
        client = openai.OpenAI(base_url=handle.base_url, api_key="k", max_retries=0, _strict_response_validation=True)
        with pytest.raises(openai.BadRequestError) as refused:
            run(client, {"type": "multi", "name": "m", "graders": {"q": PYTHON}, "calculate_output": "q"})
        assert refused.value.param == "grader.graders.q.type" and "loopback" in refused.value.message
        assert run(client, STRING).reward == 1.0
    finally:
        handle.stop()
