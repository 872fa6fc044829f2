"""What a model learns from: `ftw labels` and the label reports, by the engine's chat template (token by token, as
its trainer labels) and by OpenAI's documented rule; an example whose only reply has weight 0 trains nothing and is
flagged on its line, exit code 1."""

import json
import subprocess
import sys

import pytest

from ftwidgets.data.labels import engine_label_report, openai_label_report
from ftwidgets.widgets import TrainedTokens

from .conftest import SAMPLES

TAUGHT = {
    "messages": [
        {"role": "system", "content": "You are a tutor."},
        {"role": "user", "content": "What is 2 + 2?"},
        {"role": "assistant", "content": "Step 1: add.\nAnswer: 4"},
    ]
}
MASKED = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello", "weight": 0}]}
CONTEXT_REPLY = {
    "messages": [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "old reply", "weight": 0},
        {"role": "user", "content": "b"},
        {"role": "assistant", "content": "new reply"},
    ]
}


@pytest.fixture
def data(tmp_path):
    path = tmp_path / "mine.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in (TAUGHT, MASKED, CONTEXT_REPLY)) + "{broken\n")
    return path


def ftw_labels(*args):
    return subprocess.run(
        [sys.executable, "-m", "ftwidgets.cli", "labels", *map(str, args)], capture_output=True, text=True, timeout=120
    )


def test_ftw_labels_flags_the_example_that_trains_nothing_on_its_line(data):
    p = ftw_labels(data, "--show", "3")
    assert p.returncode == 1 and "Traceback" not in p.stderr, p.stderr
    assert (
        "line 2: error: this example trains on no token" in p.stdout and "line 4: not read: not valid JSON" in p.stdout
    )
    assert "[[Step 1: add.\nAnswer: 4<|im_end|>]]" in p.stdout  # the reply and its end token train
    assert "[[new reply<|im_end|>]]" in p.stdout and "[[old reply" not in p.stdout  # a weight-0 reply is context
    assert ftw_labels(SAMPLES / "math_tutor.jsonl", "--show", "0").returncode == 0


def test_the_engine_report_is_the_trainers_own_labels(data):
    """The report's counts are the engine's: encode_example with the base's template, run by `ftw labels --json`."""
    from transformers import AutoTokenizer

    from ftwidgets.engine import models
    from ftwidgets.engine.chat import IGNORE, encode_example

    report = engine_label_report(data, show=1)
    tok = AutoTokenizer.from_pretrained(models.ensure_converted())
    ids, labels = encode_example(tok, TAUGHT["messages"], 1024)
    first = report.examples[0]
    assert (first.trained_tokens, first.total_tokens) == (sum(x != IGNORE for x in labels), len(ids))
    assert report.untrained_lines == [2] and report.unreadable == {4: "not valid JSON"} and not report.ok
    assert "".join(text for text, _ in first.pieces) == tok.decode(ids) and report.examples[1].pieces == []


def test_openais_rule_is_message_by_message(data):
    report = openai_label_report(data, show=3)
    assert report.untrained_lines == [2] and report.rule.startswith("OpenAI")
    third = report.examples[2]
    assert [trained for _, trained in third.pieces] == [False, False, False, True]


def test_the_view_highlights_the_trained_text_and_names_the_error(data):
    view = TrainedTokens(openai_label_report(data, show=1))
    assert "line 2: error" in view.html.value and "background:#c8e6c9" in view.html.value
    assert "Step 1: add." in view.html.value
