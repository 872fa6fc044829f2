"""Was fine-tuning worth it: the few-shot baseline's prompt (the most examples that fit), each system's tokens,
seconds and price, and the plain verdict for each way the comparison can end."""

from __future__ import annotations

import pytest

from ftwidgets.evaluation.evaluate import EvalItem, Evaluation, Generation, System, to_eval_items
from ftwidgets.evaluation.worth_it import few_shot_system, system_costs, worth_it
from ftwidgets.metrics import exact_match
from ftwidgets.tokens import count_message_tokens
from ftwidgets.widgets import WorthItView

from .conftest import chat
from .test_forgetting import Models, forgetting_of


def items(n: int = 40) -> list[EvalItem]:
    return to_eval_items([chat(f"What is {i} + 1?", f"Answer: {i + 1}") for i in range(n)])


def test_the_few_shot_prompt_holds_the_most_examples_that_fit():
    train = [chat(f"What is {i} x 2? " + "Explain. " * 60, f"Step 1: double it.\nAnswer: {2 * i}") for i in range(30)]
    test = items(5)
    system = few_shot_system("m", train, test, max_tokens=100, budget=700)
    k = len(system.shots)
    assert 1 <= k < 8 and system.prompting == f"{k} examples in the prompt, as many as fit 700 tokens"
    longest = max(count_message_tokens(system.messages(item)) for item in test)
    assert longest + 100 <= 700
    assert longest + 100 + count_message_tokens([{"role": "user", "content": system.shots[0][0]}]) > 700 or k == 8
    messages = system.messages(test[0])
    assert [m["role"] for m in messages] == ["system"] + ["user", "assistant"] * k + ["user"]
    assert messages[0] == test[0].messages[0] and messages[-1] == test[0].messages[-1]
    assert (
        few_shot_system("m", train, test, max_tokens=100).shots
        == few_shot_system("m", train, test, max_tokens=100).shots
    )
    assert few_shot_system("m", train, test, max_tokens=100, budget=50).shots == ()  # nothing fits: zero-shot


def evaluation(base_right: int, shots_right: int, tuned_right: int, n: int = 40) -> Evaluation:
    its = items(n)

    def answers(right: int, prompt_tokens: int, seconds: float) -> list[Generation]:
        return [
            Generation(it.reference if k < right else "Answer: -1", None, False, prompt_tokens, 8, seconds)
            for k, it in enumerate(its)
        ]

    return Evaluation(
        its,
        {"base": "gpt-4o-mini", "few_shot": "gpt-4o-mini", "fine_tuned": "ft:gpt-4o-mini:org::x"},
        {
            "base": answers(base_right, 40, 0.5),
            "few_shot": answers(shots_right, 400, 1.5),
            "fine_tuned": answers(tuned_right, 40, 0.5),
        },
        {"base": "zero-shot", "few_shot": "4 examples in the prompt", "fine_tuned": "zero-shot"},
    )


@pytest.mark.parametrize(
    "right, said",
    [
        ((5, 15, 38), "Fine-tuning beat prompting with examples (4 examples in the prompt) on answer accuracy"),
        ((5, 38, 15), "Prompting with examples was enough"),
        ((5, 30, 31), "Fine-tuning only matched prompting with examples"),
    ],
)
def test_the_verdict_says_which_way_it_went(right, said):
    result = worth_it(evaluation(*right), [exact_match()], ["answer accuracy"], resamples=2000)
    assert result.verdict().startswith(said), result.verdict()
    if "matched" in said:
        assert "360 fewer prompt tokens per request (10% of the few-shot prompt's)" in result.verdict()
        assert "0.5 s per answer against 1.5 s" in result.verdict()


def test_each_system_costs_what_its_tokens_cost_at_its_own_rate():
    costs = system_costs(evaluation(5, 15, 38))
    assert costs["few_shot"].prompt_tokens == 400 and costs["fine_tuned"].prompting == "zero-shot"
    assert costs["few_shot"].usd_per_1000 == pytest.approx((400 * 0.15 + 8 * 0.60) / 1000)
    assert costs["fine_tuned"].usd_per_1000 == pytest.approx((40 * 0.30 + 8 * 1.20) / 1000)  # the fine-tuned rate
    local = Evaluation(
        items(2), {"base": "smollm2-135m-instruct"}, {"base": [Generation("x", None, False, 9, 1, 0.2)] * 2}
    )
    assert system_costs(local)["base"].usd_per_1000 is None  # the embedded engine charges nothing per token


def test_usage_survives_the_answers_file(tmp_path):
    ev = evaluation(5, 15, 38)
    loaded = Evaluation.load(ev.save(tmp_path / "outputs.jsonl"))
    assert loaded.prompting == ev.prompting
    assert System("m").messages(ev.items[0]) == ev.items[0].messages


def test_the_view_shows_three_systems_their_costs_and_what_broke(tmp_path):
    result = worth_it(evaluation(5, 15, 38), [exact_match()], ["answer accuracy"], resamples=500)
    broke = forgetting_of(Models(), "tuned", tmp_path)
    view = WorthItView(result, broke)
    rows = view.systems.value
    assert rows.count("<tr>") == 4 and "few-shot" in rows and "4 examples in the prompt" in rows
    assert "38%" in rows and "95%" in rows and "$0.065" in rows  # base 15/40... the means and the price per 1,000
    assert "Fine-tuning beat prompting" in view.verdict.value
    assert view.detail.comparison.baseline == "few_shot"
    assert (
        "What fine-tuning broke" in view.forgetting_view.value and "general prompts 100%" in view.forgetting_view.value
    )
