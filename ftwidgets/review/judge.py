"""A model as a judge, checked against the learner's own blind reviews before it is trusted.

The judge is OpenAI's ``label_model`` grader (`pairwise_grader`): shown a prompt and two answers, it says which is
better, A or B, or tie. Each pair is asked twice with A and B swapped; a verdict that flips with the order says
more about the order than the answers, and counts as no preference. `check_judge` then measures the judge against
the people who reviewed (else the automatic reviewer, and it says so): Cohen's kappa, and the share of verdicts that
survive the swap. A judge below `RELIABLE_KAPPA` or `RELIABLE_CONSISTENCY` is called unreliable in plain words.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..graders import Grading
from ..stats import cohen_kappa
from .review_store import ReviewItem, ReviewStore, outcome, people

RELIABLE_KAPPA = 0.6  # "substantial" agreement (Landis and Koch, 1977)
RELIABLE_CONSISTENCY = 0.8  # verdicts that survive swapping A and B
TIE = "tie"
JUDGE_PROMPT = (
    "You compare two answers to the same request. Say which answer is better: correct, complete and following the "
    "request. Reply A, B or tie."
)


def pairwise_grader(model: str) -> dict[str, Any]:
    """The judge as an OpenAI ``label_model`` grader, its item holding the prompt and the two answers."""
    return {
        "type": "label_model",
        "name": f"judge {model}",
        "model": model,
        "input": [
            {"role": "system", "content": JUDGE_PROMPT},
            {
                "role": "user",
                "content": "REQUEST:\n{{item.prompt}}\n\nANSWER A:\n{{item.answer_a}}\n\nANSWER B:\n{{item.answer_b}}",
            },
        ],
        "labels": ["A", "B", TIE],
        "passing_labels": ["A"],
    }


@dataclass(frozen=True)
class JudgeVerdict:
    """The judge on one item, in both orders, in model labels ("base", "fine_tuned", "tie"; None unparsed)."""

    item: str
    first: str | None
    swapped: str | None

    @property
    def consistent(self) -> bool:
        return self.first is not None and self.first == self.swapped

    @property
    def verdict(self) -> str:
        """The preference that survives the swap, else no preference."""
        return self.first if self.consistent and self.first is not None else TIE


def judge_items(
    items: Sequence[ReviewItem],
    grading: Grading,
    grader: dict[str, Any],
    labels: tuple[str, str] = ("base", "fine_tuned"),
    *,
    concurrency: int = 4,
) -> list[JudgeVerdict]:
    """The judge's verdict on every item, each asked in both orders (a few at a time: each prompt holds two answers,
    and more at once made the models' process of a learner's 2 GB session larger)."""

    def ask(item: ReviewItem, left: str, right: str) -> str | None:
        scope = {"prompt": item.prompt, "answer_a": item.answers[left], "answer_b": item.answers[right]}
        label = grading.run(grader, "", scope).label
        return {"A": left, "B": right, TIE: TIE}.get(label) if label else None

    def one(item: ReviewItem) -> JudgeVerdict:
        return JudgeVerdict(item.id, ask(item, *labels), ask(item, *reversed(labels)))

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        return list(pool.map(one, items))


@dataclass
class JudgeCheck:
    """How far a judge agrees with the reviews, and whether that is enough to rely on it."""

    judge: str
    against: list[str]
    automatic: bool  # measured against the automatic reviewer: no person has reviewed
    items: int
    kappa: float
    consistency: float
    unparsed: int

    @property
    def reliable(self) -> bool:
        return self.items >= 10 and self.kappa >= RELIABLE_KAPPA and self.consistency >= RELIABLE_CONSISTENCY

    def sentence(self) -> str:
        if not self.items:
            return f"The judge {self.judge} could not be checked: no reviewed item to check it against."
        whom = ", ".join(self.against) + (" (automatic: no person has reviewed yet)" if self.automatic else "")
        verdict = (
            "reliable enough to help you review"
            if self.reliable
            else "too low to rely on: do not let it stand in for your own review"
        )
        return (
            f"The judge {self.judge} against {whom} on {self.items} items: Cohen's kappa {self.kappa:.2f} "
            f"(reliable from {RELIABLE_KAPPA}); {self.consistency:.0%} of its verdicts survive swapping A and B "
            f"(reliable from {RELIABLE_CONSISTENCY:.0%}); {self.unparsed} replies were no verdict. Agreement is "
            f"{verdict}."
        )

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "reliable": self.reliable, "sentence": self.sentence()}


def check_judge(judge: str, verdicts: Sequence[JudgeVerdict], store: ReviewStore) -> JudgeCheck:
    """The judge against the persons' reviews (each item's latest decision by anyone), else the automatic
    reviewer's: a "both bad" counts as no preference, as does a verdict that flips with the order."""
    persons = people(store)
    against = persons or sorted(store.reviewers())
    decided: dict[str, str] = {}
    for note in store.annotations():
        if note["reviewer"] in against:
            decided[note["item"]] = TIE if outcome(note) in (TIE, "both_bad") else outcome(note)
    shared = [v for v in verdicts if v.item in decided]
    kappa = cohen_kappa([decided[v.item] for v in shared], [v.verdict for v in shared]) if shared else 0.0
    consistency = sum(v.consistent for v in verdicts) / len(verdicts) if verdicts else 0.0
    unparsed = sum((v.first is None) + (v.swapped is None) for v in verdicts)
    return JudgeCheck(judge, against, not persons, len(shared), kappa, consistency, unparsed)


def judge_check_note(judge: str, saved: str | os.PathLike) -> str:
    """What step 5 says beside a judge's scores: step 6's check of that judge, or that it has not been checked."""
    path = Path(saved)
    if path.exists():
        record = json.loads(path.read_text())
        if record.get("judge") == judge:
            return record["sentence"]
    return f"The judge {judge} has not been checked against your reviews yet (step 6 does): read its scores as a guess."
