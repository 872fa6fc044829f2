"""A model judge checked against the reviews: both orders asked, a flip counts as no preference, Cohen's kappa
against the persons (else the automatic reviewer, said so), and a plain word when it is too low to rely on."""

from __future__ import annotations

import pytest

from ftwidgets.graders import Grading
from ftwidgets.review.judge import JudgeVerdict, check_judge, judge_items, pairwise_grader
from ftwidgets.review.review_store import ReviewItem, ReviewStore


def items(n: int = 12) -> list[ReviewItem]:
    return [
        ReviewItem(
            f"i{k}",
            [{"role": "user", "content": f"q{k}"}],
            "ref",
            {"base": "short", "fine_tuned": "a much longer answer"},
        )
        for k in range(n)
    ]


def test_a_judge_that_always_says_a_is_inconsistent_and_unreliable(tmp_path):
    store = ReviewStore(tmp_path / "r.jsonl")
    for it in items():
        store.submit("ana", it.id, "base", "fine_tuned", "B")
    with Grading(lambda model, messages, params: "A") as grading:
        verdicts = judge_items(items(), grading, pairwise_grader("j"), concurrency=4)
    assert all(v.first == "base" and v.swapped == "fine_tuned" and not v.consistent for v in verdicts)
    check = check_judge("j", verdicts, store)
    assert check.consistency == 0.0 and not check.reliable and check.against == ["ana"] and not check.automatic
    assert "too low to rely on" in check.sentence()


def test_a_judge_that_prefers_the_longer_answer_agrees_with_a_person_who_does(tmp_path):
    def longer(model, messages, params):
        text = messages[1]["content"]
        a = text.split("ANSWER A:\n")[1].split("\n\nANSWER B:")[0]
        b = text.split("ANSWER B:\n")[1]
        return "A" if len(a) > len(b) else "B"

    store = ReviewStore(tmp_path / "r.jsonl")
    its = items()
    for k, it in enumerate(its):
        store.submit("ana", it.id, "base", "fine_tuned", "B" if k < 10 else "tie")
    with Grading(longer) as grading:
        verdicts = judge_items(its, grading, pairwise_grader("j"))
    check = check_judge("j", verdicts, store)
    assert check.consistency == 1.0 and check.items == 12
    assert check.kappa == pytest.approx(0.0)  # it never says tie: agreement on "fine_tuned" alone is chance here
    store2 = ReviewStore(tmp_path / "r2.jsonl")
    for it in its:
        store2.submit("ana", it.id, "fine_tuned", "base", "A")
    mixed = [JudgeVerdict(f"i{k}", "fine_tuned", "fine_tuned") for k in range(10)] + [
        JudgeVerdict("i10", "base", "base"),
        JudgeVerdict("i11", "base", "base"),
    ]
    store2.submit("ana", "i10", "fine_tuned", "base", "B")
    store2.submit("ana", "i11", "fine_tuned", "base", "B")
    agreed = check_judge("j", mixed, store2)
    assert agreed.kappa == pytest.approx(1.0) and agreed.reliable and "reliable enough" in agreed.sentence()


def test_without_a_person_the_judge_is_measured_against_the_automatic_reviewer_and_says_so(tmp_path):
    store = ReviewStore(tmp_path / "r.jsonl")
    store.submit("rule:metrics", "i0", "base", "fine_tuned", "both_bad")
    check = check_judge("j", [JudgeVerdict("i0", "tie", "tie")], store)
    assert check.automatic and check.against == ["rule:metrics"] and "no person has reviewed" in check.sentence()
    assert not check.reliable  # one item says nothing
