import json

from ftwidgets.data.dataset import load_jsonl
from ftwidgets.data.split import find_leaks, split_examples
from ftwidgets.data.validate import validate_file
from ftwidgets.widgets import DatasetReport, SplitView

from ..conftest import SAMPLES


def test_dataset_report_shows_the_verdict_and_distributions():
    facts = DatasetReport(validate_file(SAMPLES / "facts.jsonl"))
    assert "retrieval" in facts.verdict.value and "WARNING" in facts.verdict.value
    math = DatasetReport(validate_file(SAMPLES / "math_tutor.jsonl"))
    assert "style or format" in math.verdict.value
    assert len(math.figure["data"][0]["x"]) == 1200 and "1,200" in math.numbers.value


def test_split_view_reports_and_fixes_leaks():
    math = load_jsonl(SAMPLES / "math_tutor.jsonl")[:300]
    r = split_examples(math, seed=1)
    view = SplitView(r)
    assert "No leakage" in view.leaks.value and view.fix.disabled and "80%" in view.counts.value
    leaky = json.loads(json.dumps(r.train[0]))
    r.test.append(leaky)
    r.leaks = find_leaks(r.parts())
    view = SplitView(r)
    assert "appear in two splits" in view.leaks.value and not view.fix.disabled
    view.fix.click()
    assert view.result.leaks == [] and "No leakage" in view.leaks.value


def test_one_message_count_is_a_number_not_a_one_bar_histogram(tmp_path):
    from ..conftest import chat, write_lines

    same = DatasetReport(validate_file(write_lines(tmp_path / "same.jsonl", [chat(user=f"q{i}") for i in range(12)])))
    assert len(same.figure["data"]) == 1 and "3 in every example" in same.numbers.value
    varied = [chat(user=f"q{i}", system=None if i % 2 else "Tutor.") for i in range(12)]
    mixed = DatasetReport(validate_file(write_lines(tmp_path / "mixed.jsonl", varied)))
    assert [t["name"] for t in mixed.figure["data"]] == ["tokens", "messages"] and "2 to 3" in mixed.numbers.value
