"""Step 2's way on: the examples flagged as errors and the exact duplicates dropped into a new file, the input never
touched, every dropped line named, and the next steps reading the cleaned file only while it matches step 1's."""

import json

from ftwidgets import workbook
from ftwidgets.data.cleaning import drop_flagged
from ftwidgets.data.validate import validate_file
from ftwidgets.widgets import DropFlagged


def example(i):
    return {
        "messages": [
            {"role": "system", "content": "You rewrite politely."},
            {"role": "user", "content": f"Fix {i} now."},
            {"role": "assistant", "content": f"Could you fix {i}, please?"},
        ]
    }


def learner_file(path):
    lines = [json.dumps(example(i)) for i in range(120)]
    lines.insert(3, json.dumps(example(0)))  # line 4: a copy of line 1
    lines.insert(6, json.dumps({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": ""}]}))
    lines.insert(9, "{not json")  # line 10
    path.write_text("\n".join(lines) + "\n")
    return path


def test_drop_flagged_keeps_the_rest_byte_for_byte_and_names_what_went(tmp_path):
    source = learner_file(tmp_path / "mine.jsonl")
    before = source.read_bytes()
    report = validate_file(source)
    assert not report.valid
    cleaned = drop_flagged(report, tmp_path / "clean.jsonl")
    assert source.read_bytes() == before  # the input is never changed
    assert cleaned.kept == 120 and cleaned.duplicates == [4] and sorted(cleaned.errors) == [7, 10]
    assert "not valid JSON" in cleaned.errors[10] and "empty" in cleaned.errors[7].lower()
    kept = (tmp_path / "clean.jsonl").read_text().splitlines()
    assert kept == [line for n, line in enumerate(before.decode().splitlines(), 1) if n not in (4, 7, 10)]
    again = validate_file(cleaned.path)
    assert again.valid and again.counts.get("exact_duplicate", 0) == 0
    assert "dropped 2 with errors and 1 exact duplicates (mine.jsonl is unchanged)" in cleaned.summary()


def test_the_button_cleans_and_the_next_steps_use_the_cleaned_file_while_it_matches(tmp_path, monkeypatch):
    monkeypatch.setenv("FTW_WORK_DIR", str(tmp_path / "work"))
    prepared = learner_file(workbook.work_dir("01_prepare") / "dataset.jsonl")
    assert workbook.prepared_dataset() == prepared
    report = validate_file(prepared)
    view = DropFlagged(report, on_drop=workbook.drop_flagged_examples)
    assert view.button.description == "Drop 2 with errors and 1 duplicates" and not view.button.disabled
    view.button.click()
    assert view.cleaned_report.valid and "passes every rule" in view.message.value and view.button.disabled
    assert view.button.description == "Dropped 2 with errors and 1 duplicates"  # what was done, not an offer
    assert workbook.prepared_dataset() == workbook.work_dir("02_validate") / "dataset.cleaned.jsonl"
    prepared.write_text(prepared.read_text().replace("Fix 5 now.", "Fix 5 today."))  # step 1 made a new dataset
    assert workbook.prepared_dataset() == prepared  # the old cleaned file no longer stands for it


def test_a_clean_file_has_nothing_to_drop(tmp_path):
    path = tmp_path / "ok.jsonl"
    path.write_text("".join(json.dumps(example(i)) + "\n" for i in range(100)))
    view = DropFlagged(validate_file(path), on_drop=lambda r: drop_flagged(r, tmp_path / "x.jsonl"))
    assert view.button.disabled and "Nothing to drop" in view.message.value
