"""Built-in metrics against hand-worked values."""

import re

import pytest

from ftwidgets.metrics import (
    Metric,
    default_metrics,
    exact_match,
    extract_final_answer,
    format_compliance,
    lcs_length,
    llm_judge,
    rouge_l,
    token_f1,
)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Step 1: ...\nAnswer: 4496", "4496"),
        ("The answer is 12.", "12"),
        ("answer = -7", "-7"),
        ("Answer: 1,015", "1015"),
        ("Answer: 4.0", "4"),
        ("I think 3, no wait, 5", "5"),
        ("Answer: 2.5", "2.5"),
        ("no number", None),
        ("", None),
    ],
)
def test_extract_final_answer(text, expected):
    assert extract_final_answer(text) == expected


def test_exact_match_compares_extracted_answers():
    m = exact_match()
    assert m.kind == "pass"
    assert m.score("long working...\nAnswer: 49797", "Answer: 49797", {}) == 1.0
    assert m.score("Answer: 49796", "Answer: 49797", {}) == 0.0
    assert m.score("I cannot help", "Answer: 3", {}) == 0.0
    assert m.score("", "", {}) == 0.0  # nothing extracted is never a match


def test_format_compliance_regex_and_callable():
    fmt = format_compliance(r"Step 1:.*Answer: -?\d+\s*$")
    assert fmt.score("Step 1: add\nAnswer: 5", "", {}) == 1.0
    assert fmt.score("Answer: 5", "", {}) == 0.0
    assert format_compliance(re.compile(r"^\d+$")).score("42", "", {}) == 1.0
    assert format_compliance(lambda t: t.endswith("!")).score("hi!", "", {}) == 1.0
    assert format_compliance(lambda t: t.endswith("!")).score("hi", "", {}) == 0.0


def test_token_f1_hand_worked():
    # pred 3 words, ref 4 words, 3 shared: P=1, R=0.75, F1=0.857
    assert token_f1().score("The cat sat", "the cat sat down", {}) == pytest.approx(6 / 7)
    assert token_f1().score("a a b", "a b b", {}) == pytest.approx(2 / 3)  # multiset overlap: a, b
    assert token_f1().score("x", "y", {}) == 0.0
    assert token_f1().score("", "", {}) == 1.0


def test_rouge_l_hand_worked():
    assert lcs_length("a b c d e".split(), "a x c y e".split()) == 3
    # LCS 3 of 5 and 5 words: P=R=0.6
    assert rouge_l().score("a b c d e", "a x c y e", {}) == pytest.approx(0.6)
    assert rouge_l().score("b a", "a b", {}) == pytest.approx(0.5)


class _JudgeClient:
    def __init__(self, reply):
        self.reply, self.calls = reply, []
        self.chat = self
        self.completions = self

    def create(self, **kw):
        self.calls.append(kw)
        from types import SimpleNamespace as NS

        return NS(choices=[NS(message=NS(content=self.reply))])


def test_llm_judge_scales_and_counts_unparsed():
    client = _JudgeClient("4")
    judge = llm_judge(client, "judge-model")
    ex = {"messages": [{"role": "user", "content": "What is 2+2?"}]}
    assert judge.score("4", "Answer: 4", ex) == 0.75
    sent = client.calls[0]
    assert sent["model"] == "judge-model" and sent["temperature"] == 0
    assert "What is 2+2?" in sent["messages"][1]["content"]
    bad = llm_judge(_JudgeClient("I refuse"), "m")
    assert bad.score("x", "y", ex) == 0.0 and bad.judge["unparsed"] == 1


def test_custom_metric_and_defaults():
    m = Metric("length ok", "pass", lambda p, r, ex: len(p) < 10)
    assert m.score("short", "", {}) == 1.0
    names = [d.name for d in default_metrics(r"Answer:")]
    assert names == ["format compliance", "answer accuracy", "token F1", "ROUGE-L"]


def test_correct_arithmetic_grades_the_worked_sums():
    from ftwidgets.data.dataset import load_jsonl
    from ftwidgets.metrics import correct_arithmetic

    from .conftest import SAMPLES

    metric = correct_arithmetic()
    references = [ex["messages"][-1]["content"] for ex in load_jsonl(SAMPLES / "math_tutor.jsonl")]
    assert all(metric.score(r, "", {}) == 1.0 for r in references)  # every reference answer's sums are right
    assert metric.score("Tens: 15-4=11; 527×70=40540; 2+3×4=14", "", {}) == pytest.approx(2 / 3)  # 527×70 is 36890
    assert metric.score("no sums at all", "", {}) == 0.0
