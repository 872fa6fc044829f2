"""ProgressBar as `evaluate` drives it: answers counted per model, the time left from the pace so far."""

from ftwidgets.widgets import ProgressBar
from ftwidgets.widgets.progress import time_left


def test_time_left_comes_from_the_pace_so_far():
    assert time_left(0, 10, 5.0) == "" and time_left(10, 10, 5.0) == ""
    assert time_left(5, 10, 10.0) == ", about 10 s left" and time_left(1, 11, 30.0) == ", about 5 min left"


def test_the_bar_follows_each_model(monkeypatch):
    from ftwidgets.widgets import progress as module

    clock = iter([100.0, 104.0, 200.0, 200.0])
    monkeypatch.setattr(module.time, "monotonic", lambda: next(clock))
    bar = ProgressBar()
    bar.update("base", 2, 8)  # started at 100, 2 done at 104: 12 s left
    assert bar.text.value == "base: 2 of 8, about 12 s left" and (bar.bar.value, bar.bar.max) == (2, 8)
    bar.update("fine_tuned", 8, 8)
    assert bar.text.value == "fine_tuned: all 8 answers in"


def test_evaluate_reports_to_the_bar(client, tmp_path):
    from ftwidgets.data.dataset import load_jsonl
    from ftwidgets.evaluation.evaluate import evaluate, to_eval_items

    from ..conftest import SAMPLES

    bar = ProgressBar()
    items = to_eval_items(load_jsonl(SAMPLES / "math_tutor.jsonl")[:3])
    evaluate(client, items, {"base": "smollm2-135m-instruct"}, cache_dir=tmp_path, max_tokens=4, on_progress=bar.update)
    assert bar.bar.value == bar.bar.max == 3 and bar.text.value == "base: all 3 answers in"


def test_a_batch_that_arrives_at_once_does_not_make_the_time_left_seconds(monkeypatch):
    """32 answers of one batch land together after a minute: the pace counts from when the work began, so the bar
    says about a minute is left, not "about 1 s" (the time from the first answer to the 32nd)."""
    from ftwidgets.widgets import progress as module

    now = [0.0]
    monkeypatch.setattr(module.time, "monotonic", lambda: now[0])
    bar = ProgressBar()
    now[0] = 60.0
    for done in range(1, 33):
        now[0] += 0.001
        bar.update("base", done, 64)
    assert bar.text.value == "base: 32 of 64, about 60 s left"
    now[0] = 130.0
    bar.update("base", 64, 64)
    now[0] = 190.0
    bar.update("fine_tuned", 16, 64)  # its work began when the base model's ended: 60 s for 16
    assert bar.text.value == "fine_tuned: 16 of 64, about 3 min left"
