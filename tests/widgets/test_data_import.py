"""DataImport, driven as a learner drives it: upload a CSV with its own column names, choose the
columns, see the converted preview; too big a file, a path that is not there, a ShareGPT file."""

import datetime as dt
import json

from ftwidgets.widgets import DataImport


def upload(widget: DataImport, name: str, content: bytes) -> None:
    """What the browser sends when a file is chosen (ipywidgets 8's FileUpload value)."""
    widget.upload.value = ({"name": name, "type": "text/csv", "size": len(content), "content": memoryview(content),
                            "last_modified": dt.datetime.now(dt.timezone.utc)},)


def test_an_uploaded_csv_is_saved_mapped_and_previewed(tmp_path):
    widget = DataImport(tmp_path / "uploads")
    csv = b'question,reply,persona\n"What is 2 + 3?","Step 1: add. Answer: 5",You are a tutor.\n"And 4 + 4?","Answer: 8",\n'
    upload(widget, "mine.csv", csv)
    assert (tmp_path / "uploads" / "mine.csv").read_bytes() == csv and widget.format == "csv"
    assert widget.columns.layout.display == "" and list(widget.user.options) == ["question", "reply", "persona"]
    widget.user.value, widget.assistant.value, widget.system.value = "question", "reply", "persona"
    widget.convert.click()
    assert [m["role"] for m in widget.examples[0]["messages"]] == ["system", "user", "assistant"]
    assert widget.examples[1]["messages"][-1]["content"] == "Answer: 8"
    assert "What is 2 + 3?" in widget.preview.value and "2 converted" in widget.message.value
    upload(widget, "mine.csv", b"user,assistant\nq,a\n")  # the same name again: a new file, the first one kept
    assert (tmp_path / "uploads" / "mine-1.csv").exists() and (tmp_path / "uploads" / "mine.csv").read_bytes() == csv
    assert widget.user.value == "user" and widget.examples[0]["messages"][-1]["content"] == "a"


def test_too_big_a_file_and_a_missing_path_get_a_message_and_nothing_is_written(tmp_path):
    widget = DataImport(tmp_path / "uploads", max_bytes=10)
    upload(widget, "big.csv", b"user,assistant\n" + b"q,a\n" * 10)
    assert "over the" in widget.message.value and "path" in widget.message.value
    assert not (tmp_path / "uploads").exists() and widget.examples == []
    widget.path.value = str(tmp_path / "nowhere.jsonl")
    widget.use_path.click()
    assert "no such file" in widget.message.value and widget.examples == []


def test_a_sharegpt_file_by_path_reports_what_it_could_not_convert(tmp_path):
    path = tmp_path / "dump.json"
    path.write_text(json.dumps([
        {"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}]},
        {"conversations": [{"from": "human", "value": "hi"}, {"from": "bing", "value": "<b>hello</b>"}]},
    ]))
    widget = DataImport(tmp_path / "uploads")
    widget.path.value = str(path)
    widget.use_path.click()
    assert widget.format == "sharegpt" and widget.columns.layout.display == "none" and len(widget.examples) == 1
    assert "record 2" in widget.message.value and "bing" in widget.message.value
    assert "<b>hello" not in widget.message.value  # data is escaped, never markup
