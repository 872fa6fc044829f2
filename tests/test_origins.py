"""A learner's own lines, end to end: step 1 keeps where each example stood in the file they brought, and step 2's
findings, the trained-token view and the Drop report name that line, through the cleaned file too."""

import json

import pytest

from ftwidgets import workbook
from ftwidgets.data.dataset import write_jsonl
from ftwidgets.data.importers import convert_file
from ftwidgets.data.labels import openai_label_report
from ftwidgets.data.origins import Origins
from ftwidgets.data.validate import validate_file
from ftwidgets.widgets import DropFlagged, TrainedTokens, ValidationTable

from .conftest import chat


def upload(tmp_path, n=120):
    """120 good examples with, in the learner's file: a line that is not JSON at 3, a blank line at 6, an example
    with no reply at 78, and an exact repeat at 101."""
    lines = [json.dumps(chat(f"What is {i} + {i}?", f"Step 1: add.\nAnswer: {2 * i}")) for i in range(n)]
    lines.insert(2, "{this is not json")
    lines.insert(5, "")
    lines[77] = json.dumps({"messages": [{"role": "user", "content": "What is 77 + 77?"}]})
    lines[100] = lines[50]
    path = tmp_path / "mine.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def prepared(tmp_path, monkeypatch):
    monkeypatch.setenv("FTW_WORK_DIR", str(tmp_path / "work"))
    conversion = convert_file(upload(tmp_path))
    dataset = workbook.work_dir("01_prepare") / "dataset.jsonl"
    write_jsonl(dataset, conversion.examples, overwrite=True)
    workbook.record_origins(conversion.origins("mine.jsonl"))
    return dataset, conversion


def test_the_upload_is_reported_by_its_own_lines(prepared):
    _, conversion = prepared
    assert conversion.summary().splitlines()[1].startswith("  line 3: not JSON")
    assert conversion.places[:3] == [1, 2, 4] and conversion.places[4] == 7  # the blank line 6 is no example


def test_step_2_names_the_learners_line_where_the_rewritten_file_has_another(prepared):
    dataset, _ = prepared
    origins = workbook.origins_of(dataset)
    report = validate_file(dataset)
    missing = next(f for f in report.findings if f.code == "example_missing_assistant_message")
    assert missing.line == 76 and origins.where(missing.line) == "line 78 of mine.jsonl"
    view = ValidationTable(report, origins=origins)
    assert "mine.jsonl</b>, the file you brought" in view.summary.value
    assert "<td style='padding:2px 8px;vertical-align:top;'>78</td>" in view.table.value
    view.line.value = 78  # the learner types the line they see
    assert "77 + 77" in view.example.value
    view.line.value = 3
    assert "not an example of mine.jsonl that step 1 kept" in view.example.value


def test_one_true_cause_for_a_missing_reply_in_the_trained_token_view(prepared):
    dataset, _ = prepared
    labels = openai_label_report(dataset)
    (untrained,) = [e for e in labels.examples if e.trained_tokens == 0]
    assert "no assistant reply" in untrained.cause and "weight" not in untrained.cause
    shown = TrainedTokens(labels, origins=workbook.origins_of(dataset)).html.value
    assert "line 78 of mine.jsonl: error: this example trains on no token: it has no assistant reply" in shown


def test_the_drop_report_and_the_cleaned_file_keep_the_learners_lines(prepared):
    dataset, _ = prepared
    report = validate_file(dataset)
    origins = workbook.origins_of(dataset)
    way_on = DropFlagged(report, on_drop=workbook.drop_flagged_examples, origins=origins)
    assert "fix them in mine.jsonl" in way_on.message.value
    way_on.drop()
    said = way_on.message.value
    assert (
        "line 78 of mine.jsonl" in said
        and "duplicates dropped: line 101 of mine.jsonl" in said
        and "(mine.jsonl is unchanged)" in said
    )
    cleaned = workbook.work_dir("02_validate") / "dataset.cleaned.jsonl"
    kept = workbook.origins_of(cleaned)
    assert kept.places[75] == 79 and len(kept.places) == len(origins.places) - 2  # 78 and the repeat are gone
    assert workbook.origins_of(workbook.SAMPLES / "math_tutor.jsonl") is None


def test_a_csv_record_is_named_with_its_spreadsheet_row(tmp_path):
    (tmp_path / "m.csv").write_text('user,assistant\n"hi","hello"\n"","empty"\n"q","a"\n')
    conversion = convert_file(tmp_path / "m.csv")
    assert "record 2 (row 3): " in conversion.summary()
    assert conversion.origins("m.csv").where(2) == "record 3 (row 4) of m.csv"


def test_origins_of_an_older_dataset_are_not_used(prepared):
    dataset, conversion = prepared
    write_jsonl(dataset, conversion.examples[:100], overwrite=True)  # step 1 ran again on other data
    assert workbook.origins_of(dataset) is None
    assert Origins("a.jsonl", "line", (4, 9)).places_of([2, 7]) == "line 9 of a.jsonl"
    assert Origins("a.jsonl", "line", (4, 9)).places_of([1, 2]) == "lines 4, 9 of a.jsonl"
