"""OpenAI's graders run locally: templates, the similarity metrics, the checks that name a bad field, the python
sandbox's limits, multi formulas, the proposals from a learner's own data, and the grader as step 5's metric."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ftwidgets.data.dataset import load_jsonl
from ftwidgets.evaluation.evaluate import EvalItem, Evaluation, Generation, compare
from ftwidgets.graders import (
    GraderError,
    Grading,
    as_metric,
    check_grader,
    grader_item,
    graders_for,
    preview,
    propose_graders,
    read_examples,
    save_graders_for,
)
from ftwidgets.graders.similarity import similarity
from ftwidgets.metrics import rouge_l, token_f1

from .conftest import SAMPLES, chat, write_lines

ORDER = {"name": "Sam", "drink": "latte", "size": "large", "quantity": 2, "milk": "oat", "pickup_time": "08:15"}


def orders(n: int = 40) -> list[dict]:
    return [json.loads(line) for line in (SAMPLES / "own_orders.jsonl").read_text().splitlines()[:n]]


def test_similarity_metrics_agree_with_the_sample_tasks_overlap_scores():
    pairs = [("the cat sat", "the cat sat down"), ("Answer: 12", "answer 12 apples"), ("", ""), ("a b", "")]
    for pred, ref in pairs:
        assert similarity("rouge_1", pred, ref) == pytest.approx(token_f1().score(pred, ref, {}))
        assert similarity("rouge_l", pred, ref) == pytest.approx(rouge_l().score(pred, ref, {}))
    assert similarity("bleu", "the cat sat on the mat", "the cat sat on the mat") == pytest.approx(1.0)
    assert 0 < similarity("bleu", "the cat sat on a mat", "the cat sat on the mat") < 1
    assert similarity("gleu", "a b c d", "a b c d") == 1.0 and similarity("gleu", "x", "a b") == 0.0
    assert similarity("rouge_2", "a b c", "a b d") == pytest.approx(0.5)
    assert similarity("fuzzy_match", "colour", "color") == pytest.approx(10 / 11)
    with pytest.raises(ValueError, match="WordNet"):
        similarity("meteor", "a", "a")


@pytest.mark.parametrize(
    "grader, param",
    [
        ({"type": "string_check", "name": "x", "input": "a", "reference": "b", "operation": "in"}, "grader.operation"),
        ({"type": "string_check", "name": "", "input": "a", "reference": "b", "operation": "eq"}, "grader.name"),
        (
            {"type": "text_similarity", "name": "x", "input": "{{ans}}", "reference": "b", "evaluation_metric": "bleu"},
            "grader.input",
        ),
        (
            {"type": "text_similarity", "name": "x", "input": "a", "reference": "b", "evaluation_metric": "cosine"},
            "grader.evaluation_metric",
        ),
        ({"type": "python", "name": "x", "source": "def score(s, i):\n    return 1"}, "grader.source"),
        (
            {
                "type": "score_model",
                "name": "x",
                "model": "m",
                "input": [{"role": "user", "content": "a"}],
                "range": [5, 1],
            },
            "grader.range",
        ),
        (
            {
                "type": "label_model",
                "name": "x",
                "model": "m",
                "input": [{"role": "user", "content": "a"}],
                "labels": ["a"],
                "passing_labels": ["b"],
            },
            "grader.passing_labels",
        ),
        (
            {
                "type": "multi",
                "name": "x",
                "graders": {"a": {"type": "python", "name": "a", "source": "x"}},
                "calculate_output": "a",
            },
            "grader.graders.a.source",
        ),
        (
            {
                "type": "multi",
                "name": "x",
                "graders": {
                    "a": {"type": "string_check", "name": "a", "input": "a", "reference": "a", "operation": "eq"}
                },
                "calculate_output": "__import__('os')",
            },
            "grader.calculate_output",
        ),
    ],
)
def test_a_bad_grader_names_its_field(grader, param):
    with pytest.raises(GraderError) as bad:
        check_grader(grader)
    assert bad.value.param == param


def test_string_check_operations_and_templates():
    def check(operation, text, reference):
        grader = {
            "type": "string_check",
            "name": "c",
            "input": "{{sample.output_text}}",
            "reference": reference,
            "operation": operation,
        }
        with Grading() as grading:
            return grading.run(grader, text, {}).reward

    assert check("eq", "yes", "yes") == 1.0 and check("eq", "Yes", "yes") == 0.0
    assert check("ne", "no", "yes") == 1.0
    assert check("like", "I say yes.", "yes") == 1.0 and check("like", "I say YES.", "yes") == 0.0
    assert check("ilike", "I say YES.", "yes") == 1.0


def test_field_graders_rank_the_wrong_order_below_the_right_one_where_word_overlap_does_not():
    """The case that opened the graders: token F1 prefers a wrong order to a right one in a sentence."""
    right = json.dumps(ORDER)
    wrong = json.dumps({**ORDER, "quantity": 3, "pickup_time": "09:15"})
    polite = f"Sure! Here is the order: {right} Have a nice day."
    assert token_f1().score(wrong, right, {}) > token_f1().score(polite, right, {})
    example = {"messages": [{"role": "user", "content": "order"}, {"role": "assistant", "content": right}]}
    graders = propose_graders([example] * 5)
    with Grading() as grading:
        scores = {
            text: {g["name"]: grading.run(g, text, grader_item(example)).reward for g in graders}
            for text in (wrong, polite, right)
        }
    assert scores[right] == {name: 1.0 for name in scores[right]}
    assert (
        scores[wrong]["exact match"] == 0 and scores[wrong]["field quantity"] == 0 and scores[wrong]["field size"] == 1
    )
    assert scores[polite]["valid JSON"] == 0 and scores[polite]["exact match"] == 0


def test_proposals_fit_each_kind_of_reference_and_pass_their_own_references():
    kinds = {
        "own_orders.jsonl": [
            "valid JSON",
            "exact match",
            "field name",
            "field drink",
            "field size",
            "field quantity",
            "field milk",
            "field pickup_time",
        ],
        "math_tutor.jsonl": ["format", "answer match"],
        "support_routing.jsonl": ["valid JSON", "exact match", "field category", "field priority"],
        "facts.jsonl": ["token F1", "ROUGE-L"],
    }
    for name, expected in kinds.items():
        examples = load_jsonl(SAMPLES / name)[:120]
        graders = propose_graders(examples)
        assert [g["name"] for g in graders] == expected, name
        with Grading() as grading:
            assert all(p.ok and p.mean == 1.0 for p in preview(graders, examples, grading)), name
    labels = [chat(f"message {i}", ["billing", "refund", "other"][i % 3]) for i in range(30)]
    assert [g["name"] for g in propose_graders(labels)] == ["label"]


def test_a_grader_that_fails_its_own_references_is_flagged_with_their_lines(tmp_path):
    data = write_lines(
        tmp_path / "d.jsonl", [chat("a", "Answer: 1"), chat("b", "Answer: 2"), chat("c", "no final line")]
    )
    read = read_examples(data)
    grader = {
        "type": "string_check",
        "name": "has answer",
        "input": "{{sample.output_text}}",
        "reference": "Answer:",
        "operation": "like",
    }
    with Grading() as grading:
        (result,) = preview([grader], read.examples, grading, read.lines)
    assert not result.ok and result.failing_lines == [3] and result.mean == pytest.approx(2 / 3)


def test_the_file_a_learner_brought_is_read_with_its_flaws_by_line(tmp_path):
    path = tmp_path / "mine.jsonl"
    path.write_bytes(
        b"\xef\xbb\xbf"
        + json.dumps(chat()).encode()
        + b"\r\n\r\nnot json\r\n"
        + json.dumps({"messages": [{"role": "user", "content": "hi"}]}).encode()
        + b"\r\n"
        + json.dumps(chat("x", "")).encode()
        + b"\r\n"
        + json.dumps(chat()).encode()
    )
    read = read_examples(path)
    assert read.lines == [1, 6]
    assert [line for line, _ in read.flaws] == [3, 4, 5]
    assert (
        "not valid JSON" in read.flaws[0][1] and "assistant reply" in read.flaws[1][1] and "empty" in read.flaws[2][1]
    )


def test_python_graders_run_apart_within_their_limits():
    slow = {
        "type": "python",
        "name": "slow",
        "source": "import time\ndef grade(s, i):\n    time.sleep(30)\n    return 1\n",
    }
    ok = {
        "type": "python",
        "name": "ok",
        "source": "import os\ndef grade(s, i):\n    return float(os.getcwd() != i['here'])\n",
    }
    with Grading(python_time_limit=1.0) as grading:
        hung = grading.run(slow, "x", {})
        assert hung.reward == 0.0 and hung.errors["unresponsive_reward_error"] and hung.execution_time < 10
        assert grading.run(ok, "x", {"here": str(__import__("os").getcwd())}).reward == 1.0  # a scratch folder
    with Grading(allow_python=False) as refused:
        assert refused.run(ok, "x", {"here": ""}).errors["python_grader_server_error"]


def test_multi_combines_by_its_formula_and_flags_a_failing_one():
    size = {
        "type": "string_check",
        "name": "size",
        "input": "{{sample.output_json.size}}",
        "reference": "large",
        "operation": "eq",
    }
    long = {"type": "python", "name": "long", "source": "def grade(s, i):\n    return len(s['output_text']) / 100\n"}
    multi = {
        "type": "multi",
        "name": "m",
        "graders": {"size": size, "long": long},
        "calculate_output": "max(size, long) ^ 2 / 2",
    }
    with Grading() as grading:
        run = grading.run(multi, json.dumps({"size": "large"}), {})
        assert run.reward == pytest.approx(0.5) and run.sub_rewards["size"] == 1.0
        divided = grading.run({**multi, "calculate_output": "size / (long - long)"}, "x", {})
        assert divided.errors["formula_parse_error"] and divided.reward == 0.0
        body = run.to_openai()
    assert set(body) == {"reward", "sub_rewards", "metadata", "model_grader_token_usage_per_model"}
    assert body["metadata"]["scores"] == {"size": 1.0, "long": pytest.approx(0.17)}


def test_model_graders_ask_through_a_chat_function_and_flag_what_is_no_score():
    replies = iter(["7 out of 10", "no idea", "Label: good.", "maybe"])
    asked = []

    def chat_fn(model, messages, params):
        asked.append((model, messages, params))
        return next(replies)

    score = {
        "type": "score_model",
        "name": "s",
        "model": "judge",
        "range": [1, 10],
        "input": [{"role": "user", "content": "Rate {{sample.output_text}}"}],
    }
    label = {
        "type": "label_model",
        "name": "l",
        "model": "judge",
        "labels": ["good", "bad"],
        "passing_labels": ["good"],
        "input": [{"role": "developer", "content": "Is {{sample.output_text}} good?"}],
    }
    with Grading(chat_fn) as grading:
        assert grading.run(score, "hi", {}).reward == 7.0
        assert grading.run(score, "hi", {}).errors["model_grader_parse_error"]
        good = grading.run(label, "hi", {})
        assert good.reward == 1.0 and good.label == "good"
        assert grading.run(label, "hi", {}).errors["model_grader_parse_error"]
    assert asked[0][1][0] == {"role": "user", "content": "Rate hi"} and asked[0][2]["temperature"] == 0
    assert asked[2][1][0]["role"] == "system"  # developer as a chat model knows it


def test_graders_as_step_5s_metrics_compare_with_the_right_test(tmp_path):
    example = {"messages": [{"role": "user", "content": "order"}, {"role": "assistant", "content": json.dumps(ORDER)}]}
    graders = propose_graders([example])
    items = [EvalItem(str(i), example["messages"][:1], example["messages"][1]["content"], example) for i in range(20)]
    right, wrong = json.dumps(ORDER), json.dumps({**ORDER, "size": "small"})
    evaluation = Evaluation(
        items,
        {"base": "b", "fine_tuned": "f"},
        {"base": [Generation("I cannot")] * 20, "fine_tuned": [Generation(right)] * 15 + [Generation(wrong)] * 5},
    )
    with Grading() as grading:
        comparison = compare(evaluation, [as_metric(g, grading) for g in graders], resamples=500)
    by_name = {r.metric: r for r in comparison.results}
    assert by_name["valid JSON"].kind == "pass" and by_name["valid JSON"].test == "McNemar exact"
    assert by_name["valid JSON"].delta == pytest.approx(1.0)
    assert by_name["exact match"].candidate == pytest.approx(0.75) and by_name["field size"].candidate == 0.75
    assert by_name["field name"].candidate == 1.0
    assert np.isclose(comparison.scores["field size"]["fine_tuned"].sum(), 15)


def test_saved_graders_are_kept_for_their_dataset_and_proposed_afresh_for_another(tmp_path):
    first = write_lines(tmp_path / "a.jsonl", orders(20))
    saved = tmp_path / "graders.json"
    graders, kept = graders_for(first, saved)
    assert not kept
    mine = [
        graders[0],
        {
            "type": "string_check",
            "name": "mine",
            "input": "{{sample.output_text}}",
            "reference": "{",
            "operation": "like",
        },
    ]
    save_graders_for(first, saved, mine)
    assert graders_for(first, saved) == (mine, True)
    other = write_lines(tmp_path / "b.jsonl", [chat(f"q{i}", f"Answer: {i}") for i in range(20)])
    again, kept = graders_for(other, saved)
    assert not kept and [g["name"] for g in again] == ["format", "answer match"]
