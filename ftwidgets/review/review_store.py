"""Blind A/B review of two models' answers: the store, resuming, undo, summaries, export.

Each test prompt is shown with the two answers in a left/right order that is random
but fixed per reviewer and item (so resuming shows the same layout), and without
model names. Every action is one JSON line appended and flushed to disk at once:
killing the kernel loses nothing, and reopening the file resumes where the reviewer
stopped. Undo appends an "undo" line rather than rewriting the file.
"""

from __future__ import annotations

import csv
import hashlib
import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

from ..data.dataset import make_preference, write_preferences
from ..evaluation.evaluate import Evaluation, prompt_key
from ..runtime.safe_files import append_durably, atomic_write, read_log
from ..stats import Interval, cohen_kappa, krippendorff_alpha, wilson_interval

CHOICES = ("A", "B", "tie", "both_bad")


@dataclass(frozen=True)
class ReviewItem:
    """A prompt with each model's answer, keyed by model label."""

    id: str
    messages: list[dict[str, Any]]
    reference: str
    answers: dict[str, str]

    @property
    def prompt(self) -> str:
        users = [m.get("content") for m in self.messages if m.get("role") == "user"]
        return str(users[-1]) if users else ""


def review_items(evaluation: Evaluation, labels: Sequence[str] = ("base", "fine_tuned")) -> list[ReviewItem]:
    """The test items with the two answers to compare."""
    return [
        ReviewItem(item.id, item.messages, item.reference, {lab: evaluation.outputs[lab][i].text for lab in labels})
        for i, item in enumerate(evaluation.items)
    ]


def blind_order(item_id: str, reviewer: str, labels: Sequence[str], *, seed: int = 0) -> tuple[str, str]:
    """Which label shows on the left (A) and which on the right (B): random, but the same every time."""
    first, second = labels
    bit = hashlib.sha256(f"{seed}:{reviewer}:{item_id}".encode()).digest()[0] & 1
    return (first, second) if bit else (second, first)


class ReviewStore:
    """An append-only JSONL file of review actions (``annotate``, ``skip``, ``undo``), flushed per action."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self.records: list[dict[str, Any]] = read_log(self.path)  # a line cut short by a crash is skipped

    def _append(self, record: dict[str, Any]) -> dict[str, Any]:
        record = {"id": uuid.uuid4().hex[:12], "time": time.strftime("%Y-%m-%dT%H:%M:%S"), **record}
        with self._lock:
            append_durably(self.path, record)
            self.records.append(record)
        return record

    def submit(
        self,
        reviewer: str,
        item_id: str,
        left: str,
        right: str,
        choice: str,
        *,
        scores: dict[str, int] | None = None,
        tags: Iterable[str] = (),
        comment: str = "",
    ) -> dict[str, Any]:
        """Record a decision: ``choice`` is A (left better), B (right better), tie or both_bad.

        ``scores`` maps a model label to a 1-5 rubric score (optional).
        """
        if choice not in CHOICES:
            raise ValueError(f"choice must be one of {CHOICES}, not {choice!r}")
        if not reviewer.strip():
            raise ValueError("enter a reviewer name first, so reviews by different people can be compared")
        for label, score in (scores or {}).items():
            if label not in (left, right) or not (isinstance(score, int) and 1 <= score <= 5):
                raise ValueError(f"a rubric score is a whole number from 1 to 5 for {left!r} or {right!r}")
        preferred = {"A": left, "B": right}.get(choice)
        return self._append(
            {
                "action": "annotate",
                "reviewer": reviewer.strip(),
                "item": item_id,
                "left": left,
                "right": right,
                "choice": choice,
                "preferred": preferred,
                "scores": dict(scores or {}),
                "tags": sorted({t.strip() for t in tags if t.strip()}),
                "comment": comment,
            }
        )

    def skip(self, reviewer: str, item_id: str) -> dict[str, Any]:
        return self._append({"action": "skip", "reviewer": reviewer.strip(), "item": item_id})

    def undo(self, reviewer: str) -> dict[str, Any] | None:
        """Withdraw the reviewer's latest annotation or skip; returns it (None when there is nothing to undo)."""
        live = self._live(reviewer)
        if not live:
            return None
        target = live[-1]
        self._append({"action": "undo", "reviewer": reviewer.strip(), "undoes": target["id"]})
        return target

    def _live(self, reviewer: str | None = None) -> list[dict[str, Any]]:
        undone = {r["undoes"] for r in self.records if r.get("action") == "undo"}
        return [
            r
            for r in self.records
            if r.get("action") in ("annotate", "skip")
            and r["id"] not in undone
            and (reviewer is None or r.get("reviewer") == reviewer.strip())
        ]

    def annotations(self, reviewer: str | None = None) -> list[dict[str, Any]]:
        """Effective decisions (undone ones removed; a later decision on the same item replaces an earlier one)."""
        latest: dict[tuple[str, str], dict[str, Any]] = {}
        for r in self._live(reviewer):
            latest[(r["reviewer"], r["item"])] = r
        return [r for r in latest.values() if r["action"] == "annotate"]

    def handled(self, reviewer: str) -> set[str]:
        """Items this reviewer has decided or skipped."""
        return {r["item"] for r in self._live(reviewer)}

    def next_item(self, reviewer: str, items: Sequence[ReviewItem]) -> ReviewItem | None:
        seen = self.handled(reviewer)
        return next((it for it in items if it.id not in seen), None)

    def reviewers(self) -> list[str]:
        return sorted({r["reviewer"] for r in self.annotations()})


def outcome(annotation: dict[str, Any]) -> str:
    """The decision with the blinding removed: a model label, "tie" or "both_bad"."""
    return annotation["preferred"] or annotation["choice"]


@dataclass
class ReviewSummary:
    """Win rates with 95% intervals, tags, rubric means and agreement between reviewers."""

    labels: tuple[str, str]
    decisions: int
    counts: Counter
    win_rates: dict[str, Interval]
    tags: Counter
    rubric: dict[str, float]
    agreement: dict[str, Any] = field(default_factory=dict)
    per_reviewer: dict[str, Counter] = field(default_factory=dict)

    def sentence(self) -> str:
        """One line: whose decisions (an automatic reviewer named as such), win rates with intervals, agreement."""
        if not self.decisions:
            return "No reviews yet."
        a, b = self.labels
        wa, wb = self.win_rates[a], self.win_rates[b]
        who = sorted(self.per_reviewer)
        by = ", ".join(f"{r} (automatic)" if is_automatic(r) else r for r in who)
        text = (
            f"{self.decisions} decisions by {by}: {b} preferred {wb.estimate:.0%} (95% CI {wb.low:.0%}-{wb.high:.0%}), "
            f"{a} {wa.estimate:.0%} (95% CI {wa.low:.0%}-{wa.high:.0%}), "
            f"tie {self.counts['tie']}, both bad {self.counts['both_bad']}"
        )
        if self.agreement.get("items"):
            text += (
                f"; agreement between {', '.join(self.agreement['reviewers'])} "
                f"on {self.agreement['items']} shared items: "
                f"Krippendorff's alpha {self.agreement['krippendorff_alpha']:.2f}"
            )
        return text


def summarize(
    store: ReviewStore, labels: tuple[str, str] = ("base", "fine_tuned"), *, reviewers: Sequence[str] | None = None
) -> ReviewSummary:
    """Win rates and agreement over the chosen reviewers' decisions (everyone's by default).

    Pass ``reviewers=people(store)`` for the persons alone: an automatic reviewer then never
    enters the win rates or the agreement.
    """
    notes = [n for n in store.annotations() if reviewers is None or n["reviewer"] in reviewers]
    counts = Counter(outcome(n) for n in notes)
    total = len(notes)
    win_rates = {lab: wilson_interval(counts[lab], total) for lab in labels}
    rubric_scores: dict[str, list[int]] = {lab: [] for lab in labels}
    for n in notes:
        for lab, s in n.get("scores", {}).items():
            rubric_scores.setdefault(lab, []).append(s)
    rubric = {lab: sum(v) / len(v) for lab, v in rubric_scores.items() if v}
    per_reviewer: dict[str, Counter] = {}
    for n in notes:
        per_reviewer.setdefault(n["reviewer"], Counter())[outcome(n)] += 1
    return ReviewSummary(
        labels,
        total,
        counts,
        win_rates,
        Counter(t for n in notes for t in n.get("tags", [])),
        rubric,
        agreement(store, reviewers),
        per_reviewer,
    )


def agreement(store: ReviewStore, reviewers: Sequence[str] | None = None) -> dict[str, Any]:
    """Cohen's kappa for each pair of reviewers and Krippendorff's alpha over all, on shared items
    (among `reviewers` only, when given)."""
    by_item: dict[str, dict[str, str]] = {}
    for n in store.annotations():
        if reviewers is not None and n["reviewer"] not in reviewers:
            continue
        by_item.setdefault(n["item"], {})[n["reviewer"]] = outcome(n)
    reviewers = sorted({r for labels in by_item.values() for r in labels})
    shared = {item: labels for item, labels in by_item.items() if len(labels) >= 2}
    if len(reviewers) < 2 or not shared:
        return {"items": 0, "reviewers": reviewers}
    pairs = {}
    for a, b in combinations(reviewers, 2):
        both = [(lab[a], lab[b]) for lab in shared.values() if a in lab and b in lab]
        if both:
            pairs[f"{a} / {b}"] = {
                "items": len(both),
                "cohen_kappa": cohen_kappa([x for x, _ in both], [y for _, y in both]),
            }
    alpha = krippendorff_alpha([[labels.get(r) for r in reviewers] for labels in shared.values()])
    return {"items": len(shared), "reviewers": reviewers, "pairs": pairs, "krippendorff_alpha": alpha}


RULE_PREFIX = "rule:"


def is_automatic(reviewer: str) -> bool:
    """An automatic reviewer (``rule:...``), never a person."""
    return reviewer.startswith(RULE_PREFIX)


def people(store: ReviewStore) -> list[str]:
    """The persons who reviewed (automatic reviewers left out)."""
    return [r for r in store.reviewers() if not is_automatic(r)]


def rule_review(
    store: ReviewStore,
    items: Sequence[ReviewItem],
    metrics: Sequence[Any],
    *,
    labels: tuple[str, str] = ("base", "fine_tuned"),
    name: str = "rule:metrics",
) -> int:
    """An automatic second reviewer that prefers the answer passing more of ``metrics``.

    Named with the ``rule:`` prefix so it is never mistaken for a person; useful as a
    baseline to measure human agreement against. Returns how many items it decided.
    """
    done = store.handled(name)
    decided = 0
    for it in items:
        if it.id in done:
            continue
        left, right = blind_order(it.id, name, labels)
        points = {
            lab: sum(m.score(it.answers[lab], it.reference, {"messages": it.messages}) for m in metrics)
            for lab in labels
        }
        if points[left] == points[right]:
            choice = "tie" if points[left] > 0 else "both_bad"
        else:
            choice = "A" if points[left] > points[right] else "B"
        store.submit(name, it.id, left, right, choice, comment="automatic: " + ", ".join(m.name for m in metrics))
        decided += 1
    return decided


def export_csv(store: ReviewStore, items: Sequence[ReviewItem], path: str | os.PathLike) -> Path:
    """Every effective decision with its prompt, both answers unblinded, scores, tags and comment."""
    by_id = {it.id: it for it in items}
    path = Path(path)
    with atomic_write(path, "w") as fh:
        out = csv.writer(fh)
        out.writerow(
            [
                "reviewer",
                "item",
                "prompt",
                "left_model",
                "right_model",
                "choice",
                "outcome",
                "left_answer",
                "right_answer",
                "left_score",
                "right_score",
                "tags",
                "comment",
                "time",
            ]
        )
        for n in store.annotations():
            it = by_id.get(n["item"])
            out.writerow(
                [
                    n["reviewer"],
                    n["item"],
                    it.prompt if it else "",
                    n["left"],
                    n["right"],
                    n["choice"],
                    outcome(n),
                    it.answers.get(n["left"], "") if it else "",
                    it.answers.get(n["right"], "") if it else "",
                    n["scores"].get(n["left"], ""),
                    n["scores"].get(n["right"], ""),
                    ";".join(n["tags"]),
                    n["comment"],
                    n["time"],
                ]
            )
    return path


def preference_records(store: ReviewStore, items: Sequence[ReviewItem]) -> list[dict[str, Any]]:
    """DPO records from decisions with a winner; an item whose reviewers disagree is left out."""
    by_id = {it.id: it for it in items}
    winners: dict[str, set[str]] = {}
    for n in store.annotations():
        winners.setdefault(n["item"], set()).add(outcome(n))
    records = []
    for item_id, outcomes in winners.items():
        it = by_id.get(item_id)
        if it is None or len(outcomes) != 1:
            continue
        (won,) = outcomes
        if won not in it.answers:
            continue  # tie or both bad: no preference to learn
        (lost,) = [lab for lab in it.answers if lab != won]
        if it.answers[won].strip() and it.answers[lost].strip() and it.answers[won] != it.answers[lost]:
            records.append(make_preference(it.messages, it.answers[won], it.answers[lost]))
    return records


def export_preferences(store: ReviewStore, items: Sequence[ReviewItem], path: str | os.PathLike, **write_kw: Any):
    """Write OpenAI DPO JSONL from the reviews and validate it; returns the validation report."""
    from ..data.validate import validate_preference_file

    write_preferences(path, preference_records(store, items), **write_kw)
    return validate_preference_file(path)


@dataclass
class ReviewExports:
    """Step 6's exports, made from every decision in the store at one moment, and when."""

    summary: ReviewSummary
    preferences: Any  # the preference file's validation report
    agreement_line: str
    made_at: str
    paths: dict[str, Path]

    def describe(self) -> str:
        return (
            f"Made at {self.made_at} from {self.summary.decisions} decision(s): {self.paths['csv'].name}, "
            f"{self.paths['preferences'].name} ({self.preferences.usable_examples} preference pairs; "
            f"valid: {self.preferences.valid}). {self.agreement_line}"
        )


def export_review(store: ReviewStore, items: Sequence[ReviewItem], folder: str | os.PathLike) -> ReviewExports:
    """Every export of a review, remade from the decisions so far: the CSV, the DPO preference file (validated),
    the summary (people only once someone has reviewed) and the agreement with the automatic reviewer. Run it
    again after more reviews: nothing of an older run is kept."""
    folder = Path(folder)
    paths = {"csv": export_csv(store, items, folder / "reviews.csv"), "preferences": folder / "preferences.jsonl"}
    preferences = export_preferences(store, items, paths["preferences"], overwrite=True)
    humans = people(store)
    with_rule = agreement(store, [*humans, "rule:metrics"]) if humans else {}
    pairs = {k: round(v["cohen_kappa"], 2) for k, v in with_rule.get("pairs", {}).items() if "rule:" in k}
    line = (
        f"Agreement with the automatic reviewer (Cohen's kappa): {pairs}."
        if pairs
        else "No person has reviewed yet: the summary is the automatic reviewer's."
    )
    return ReviewExports(
        summarize(store, reviewers=humans or None), preferences, line, time.strftime("%H:%M:%S"), paths
    )


def queue_for_review(
    path: str | os.PathLike, messages: Sequence[dict[str, Any]], answers: dict[str, str]
) -> ReviewItem:
    """Put a playground pair (a learner's own prompt and each model's answer) in step 6's queue of prompts to
    review, one durable line; it is reviewed apart from the test split, whose statistics it never enters."""
    item = ReviewItem(prompt_key(list(messages)), [dict(m) for m in messages], "", dict(answers))
    append_durably(path, {"id": item.id, "messages": item.messages, "answers": item.answers})
    return item


def queued_items(path: str | os.PathLike) -> list[ReviewItem]:
    """The playground pairs queued for review (each prompt once, its latest answers)."""
    latest: dict[str, ReviewItem] = {}
    for record in read_log(path):
        if isinstance(record, dict) and {"id", "messages", "answers"} <= set(record):
            latest[record["id"]] = ReviewItem(record["id"], record["messages"], "", record["answers"])
    return list(latest.values())
