"""ABReview and KeyboardShortcuts driven from Python: clicks, keys, blinding, undo, skip, resume."""

import json

from ftwidgets.review.review_store import ReviewItem, ReviewStore, blind_order
from ftwidgets.widgets import ABReview, KeyboardShortcuts

ITEMS = [
    ReviewItem(
        f"item{i}",
        [{"role": "system", "content": "Tutor."}, {"role": "user", "content": f"What is {i}+1?"}],
        f"Answer: {i + 1}",
        {"base": f"base answer {i}", "fine_tuned": f"tuned answer {i}"},
    )
    for i in range(6)
]


def test_needs_a_reviewer_name_and_saves_nothing_without_one(tmp_path):
    store = ReviewStore(tmp_path / "r.jsonl")
    view = ABReview(ITEMS, store)
    assert all(b.disabled for b in view.buttons.values())
    assert view.choose("A") is None and "reviewer name" in view.message.value
    assert not (tmp_path / "r.jsonl").exists()


def test_blind_layout_and_a_click_appends_one_line(tmp_path):
    path = tmp_path / "r.jsonl"
    view = ABReview(ITEMS, ReviewStore(path), reviewer="ana")
    left, right = blind_order("item0", "ana", ("base", "fine_tuned"))
    assert f"{left.split('_')[0]}" not in view.left.value.split("<pre")[0]  # no model name in the header
    assert f"{ITEMS[0].answers[left]}" in view.left.value and ITEMS[0].answers[right] in view.right.value
    assert "base" not in view.prompt.value and "fine_tuned" not in view.prompt.value
    view.score_a.value, view.score_b.value = 2, 5
    view.tags.value = ["wrong answer"]
    view.comment.value = "B shows its steps"
    view.buttons["B"].click()
    (line,) = path.read_text().splitlines()
    rec = json.loads(line)
    assert rec["choice"] == "B" and rec["preferred"] == right and rec["scores"] == {left: 2, right: 5}
    assert rec["tags"] == ["wrong answer"] and rec["comment"] == "B shows its steps"
    assert view.current.id == "item1" and view.progress.value == 1
    assert view.score_a.value == 0 and view.tags.value == [] and view.comment.value == ""  # fresh form


def test_keys_skip_undo_and_resume(tmp_path):
    path = tmp_path / "r.jsonl"
    view = ABReview(ITEMS, ReviewStore(path), reviewer="ana")
    view.keyboard.press("1")  # A
    view.keyboard.press("s")  # skip item1
    view.keyboard.press("4")  # both bad on item2
    view.keyboard.press("x")  # not a shortcut: ignored
    assert view.current.id == "item3" and len(path.read_text().splitlines()) == 3
    view.undo_button.click()
    assert view.current.id == "item2"
    # a new kernel: same file, same reviewer -> resumes at the first item not handled
    again = ABReview(ITEMS, ReviewStore(path), reviewer="ana")
    assert again.current.id == "item2" and again.progress.value == 2
    # another reviewer starts at the beginning, with their own blind order
    again.reviewer.value = "ben"
    assert again.current.id == "item0" and again.progress.value == 0


def test_finishing_all_items(tmp_path):
    view = ABReview(ITEMS[:2], ReviewStore(tmp_path / "r.jsonl"), reviewer="ana")
    view.buttons["tie"].click()
    view.buttons["A"].click()
    assert view.current is None and "All items reviewed" in view.prompt.value
    assert all(b.disabled for b in view.buttons.values())
    assert "2 decisions" in view.summary.value


def test_keyboard_shortcuts_only_pass_their_keys():
    keys = KeyboardShortcuts(["1", "u"], label="press")
    got = []
    keys.on_key(got.append)
    keys._handle_custom_msg({"key": "1"}, [])  # what a browser key press delivers
    keys._handle_custom_msg({"key": "q"}, [])
    keys._handle_custom_msg("junk", [])
    keys.press("u")
    assert got == ["1", "u"]
    assert "data-lm-suppress-shortcuts" in keys._esm  # JupyterLab's own shortcuts stay quiet while it has focus
    assert (
        keys.autofocus and "box.focus(" in keys._esm
    )  # it takes the focus when it appears, and after a click beside it


def test_rule_reviewer_and_summary_view(tmp_path):
    from ftwidgets.metrics import format_compliance
    from ftwidgets.review.review_store import rule_review, summarize
    from ftwidgets.widgets import ReviewSummaryView

    store = ReviewStore(tmp_path / "r.jsonl")
    view = ABReview(ITEMS, store, reviewer="ana")
    for _ in ITEMS:
        view.buttons["B"].click()
    assert rule_review(store, ITEMS, [format_compliance("tuned")]) == 6
    assert rule_review(store, ITEMS, [format_compliance("tuned")]) == 0  # re-running decides nothing twice
    rule = summarize(store, reviewers=["rule:metrics"])
    assert rule.counts["fine_tuned"] == 6 and rule.decisions == 6
    everyone = summarize(store)
    assert everyone.agreement["items"] == 6 and "ana / rule:metrics" in everyone.agreement["pairs"]
    sv = ReviewSummaryView(everyone)
    assert "12 decisions" in sv.sentence.value and "Cohen" in sv.details.value
    assert list(sv.figure["data"][0]["x"]) == ["base", "fine_tuned"]
    empty = ReviewSummaryView(summarize(ReviewStore(tmp_path / "none.jsonl")))
    assert "No reviews yet" in empty.sentence.value and "needs two reviewers" in empty.details.value


def test_summary_refreshes_after_each_decision_and_keeps_the_rule_apart(tmp_path):
    from ftwidgets.metrics import format_compliance
    from ftwidgets.review.review_store import people, rule_review, summarize
    from ftwidgets.widgets import ReviewSummaryView

    store = ReviewStore(tmp_path / "r.jsonl")
    rule_review(store, ITEMS, [format_compliance("tuned")])
    view = ReviewSummaryView(summarize(store, reviewers=people(store) or None))
    assert "6 decisions by rule:metrics (automatic)" in view.sentence.value  # before any person: said so
    review = ABReview(ITEMS, store, reviewer="ana")
    review.on_decision(lambda: view.update(summarize(store, reviewers=people(store) or None)))
    review.buttons["A"].click()
    assert "1 decisions by ana:" in view.sentence.value and "rule:" not in view.sentence.value
    review.buttons["B"].click()
    assert "2 decisions by ana:" in view.sentence.value and "rule:" not in view.details.value
    assert "rule:" not in review.summary.value and "2 decisions by ana" in review.summary.value
    review.undo()
    assert "1 decisions by ana:" in view.sentence.value
    everyone = summarize(store)
    assert "rule:metrics (automatic)" in everyone.sentence() and "ana / rule:metrics" in everyone.agreement["pairs"]
