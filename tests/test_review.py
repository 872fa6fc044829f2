"""Blind review storage: blinding, resume, undo, summaries, agreement, exports, and a SIGKILL mid-review."""

import csv
import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from ftwidgets.data.dataset import read_preferences
from ftwidgets.review.review_store import (
    ReviewItem,
    ReviewStore,
    blind_order,
    export_csv,
    export_preferences,
    preference_records,
    summarize,
)

LABELS = ("base", "fine_tuned")
ITEMS = [
    ReviewItem(
        f"item{i}",
        [{"role": "system", "content": "Tutor."}, {"role": "user", "content": f"What is {i}+1?"}],
        f"Answer: {i + 1}",
        {"base": f"maybe {i}", "fine_tuned": f"Step 1: add.\nAnswer: {i + 1}"},
    )
    for i in range(10)
]


def decide(store, reviewer, item, winner):
    left, right = blind_order(item.id, reviewer, LABELS)
    choice = winner if winner in ("tie", "both_bad") else ("A" if left == winner else "B")
    return store.submit(reviewer, item.id, left, right, choice, scores={winner: 5} if winner in LABELS else None)


def test_blind_order_is_random_but_stable():
    orders = [blind_order(it.id, "ana", LABELS) for it in ITEMS]
    assert set(orders) == {("base", "fine_tuned"), ("fine_tuned", "base")}  # both layouts occur
    assert orders == [blind_order(it.id, "ana", LABELS) for it in ITEMS]  # same on resume
    assert orders != [blind_order(it.id, "ben", LABELS) for it in ITEMS]  # per reviewer


def test_submit_unblinds_and_validates(tmp_path):
    store = ReviewStore(tmp_path / "reviews.jsonl")
    rec = store.submit(
        "ana",
        "item0",
        "fine_tuned",
        "base",
        "B",
        scores={"base": 4, "fine_tuned": 2},
        tags=["wrong answer", " ", "wrong answer"],
        comment="ok",
    )
    assert rec["preferred"] == "base" and rec["tags"] == ["wrong answer"]
    with pytest.raises(ValueError, match="choice"):
        store.submit("ana", "item1", "base", "fine_tuned", "C")
    with pytest.raises(ValueError, match="reviewer name"):
        store.submit("  ", "item1", "base", "fine_tuned", "A")
    with pytest.raises(ValueError, match="1 to 5"):
        store.submit("ana", "item1", "base", "fine_tuned", "A", scores={"base": 9})
    assert len(ReviewStore(tmp_path / "reviews.jsonl").records) == 1  # refused input wrote nothing


def test_resume_skip_and_undo(tmp_path):
    path = tmp_path / "reviews.jsonl"
    store = ReviewStore(path)
    decide(store, "ana", ITEMS[0], "fine_tuned")
    store.skip("ana", ITEMS[1].id)
    decide(store, "ana", ITEMS[2], "base")
    reopened = ReviewStore(path)  # a restarted kernel
    assert reopened.next_item("ana", ITEMS).id == "item3"
    assert reopened.next_item("ben", ITEMS).id == "item0"
    undone = reopened.undo("ana")
    assert undone["item"] == "item2"
    assert reopened.next_item("ana", ITEMS).id == "item2"
    assert reopened.undo("ana")["action"] == "skip"
    assert [a["item"] for a in ReviewStore(path).annotations("ana")] == ["item0"]
    lines = path.read_text().splitlines()
    assert len(lines) == 5 and [json.loads(x)["action"] for x in lines][-2:] == ["undo", "undo"]  # nothing rewritten


def test_summary_win_rates_tags_and_agreement(tmp_path):
    store = ReviewStore(tmp_path / "r.jsonl")
    ana = ["fine_tuned"] * 7 + ["base", "tie", "both_bad"]
    ben = ["fine_tuned"] * 6 + ["base", "base", "tie", "both_bad"]
    for it, a, b in zip(ITEMS, ana, ben):
        decide(store, "ana", it, a)
        decide(store, "ben", it, b)
    store.submit(
        "ana", ITEMS[0].id, *blind_order(ITEMS[0].id, "ana", LABELS), "tie", tags=["close call"]
    )  # a change of mind
    s = summarize(store, LABELS)
    assert s.decisions == 20
    assert s.counts["fine_tuned"] == 12 and s.counts["tie"] == 3
    assert s.win_rates["fine_tuned"].estimate == pytest.approx(12 / 20)
    assert s.win_rates["fine_tuned"].low < 0.6 < s.win_rates["fine_tuned"].high
    assert s.tags["close call"] == 1 and s.rubric["fine_tuned"] == 5
    ag = s.agreement
    assert ag["items"] == 10 and ag["reviewers"] == ["ana", "ben"]
    # agree on items 1-5, 8, 9 (7 of 10)
    assert ag["pairs"]["ana / ben"]["items"] == 10
    assert 0 < ag["pairs"]["ana / ben"]["cohen_kappa"] < 1 and 0 < ag["krippendorff_alpha"] < 1
    assert "20 decisions" in s.sentence() and "Krippendorff" in s.sentence()
    assert summarize(ReviewStore(tmp_path / "empty.jsonl")).sentence() == "No reviews yet."


def test_exports_csv_and_validated_dpo(tmp_path):
    store = ReviewStore(tmp_path / "r.jsonl")
    for it, w in zip(ITEMS, ["fine_tuned"] * 5 + ["base", "tie", "both_bad", "fine_tuned", "fine_tuned"]):
        decide(store, "ana", it, w)
    decide(store, "ben", ITEMS[8], "base")  # reviewers disagree on item 8: left out of the preferences
    rows = list(csv.DictReader(open(export_csv(store, ITEMS, tmp_path / "reviews.csv"))))
    assert len(rows) == 11 and {r["outcome"] for r in rows} == {"fine_tuned", "base", "tie", "both_bad"}
    assert rows[0]["prompt"] == "What is 0+1?"
    assert len(preference_records(store, ITEMS)) == 7
    report = export_preferences(store, ITEMS, tmp_path / "preferences.jsonl")
    assert report.valid and report.usable_examples == 7
    recs = list(read_preferences(tmp_path / "preferences.jsonl"))
    assert (
        recs[0]["preferred_output"][0]["content"].startswith("Step 1")
        and recs[0]["input"]["messages"][-1]["role"] == "user"
    )


def test_the_exports_are_remade_from_every_decision_so_far(tmp_path):
    """Step 6 makes its exports at Run All, before anyone reviewed; made again after the reviews, they hold them."""
    from ftwidgets.review.review_store import export_review

    store = ReviewStore(tmp_path / "r.jsonl")
    before = export_review(store, ITEMS, tmp_path)
    assert before.summary.decisions == 0 and before.preferences.usable_examples == 0
    assert "No person has reviewed yet" in before.describe()
    for it in ITEMS[:4]:
        decide(store, "ana", it, "fine_tuned")
    after = export_review(store, ITEMS, tmp_path)
    assert after.summary.decisions == 4 and after.preferences.usable_examples == 4
    assert len(list(csv.DictReader(open(after.paths["csv"])))) == 4
    assert after.describe().startswith(f"Made at {after.made_at} from 4 decision(s)")


def test_validate_preference_file_reports_lines(tmp_path):
    from ftwidgets.data.validate import validate_preference_file

    good = {
        "input": {"messages": [{"role": "user", "content": "hi"}]},
        "preferred_output": [{"role": "assistant", "content": "a"}],
        "non_preferred_output": [{"role": "assistant", "content": "b"}],
    }
    p = tmp_path / "p.jsonl"
    p.write_text(json.dumps(good) + "\n{oops\n" + json.dumps({**good, "preferred_output": []}) + "\n")
    report = validate_preference_file(p)
    assert not report.valid and report.usable_examples == 1
    assert [(f.line, f.code) for f in report.sorted_findings()] == [(2, "invalid_json"), (3, "invalid_preference")]


CHILD = textwrap.dedent("""
    import sys
    from ftwidgets.review.review_store import ReviewStore
    store = ReviewStore(sys.argv[1])
    i = 0
    while True:
        rec = store.submit("ana", f"item{i}", "base", "fine_tuned", "AB"[i % 2], comment="x" * 200)
        print(rec["id"], flush=True)  # printed only after submit returned
        i += 1
""")


def test_sigkill_mid_review_loses_no_submitted_annotation(tmp_path):
    path = tmp_path / "reviews.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    acknowledged = [proc.stdout.readline().strip() for _ in range(50)]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    stored = {r["id"] for r in ReviewStore(path).annotations()}
    assert set(acknowledged) <= stored and len(stored) >= 50
