"""DataImport, driven as a learner drives it: upload a CSV with its own column names, choose the
columns, see the converted preview; too big a file, a path that is not there, a ShareGPT file."""

import datetime as dt
import json

from ftwidgets.widgets import DataImport


def upload(widget: DataImport, name: str, content: bytes) -> None:
    """What the browser sends when a file is chosen (ipywidgets 8's FileUpload value)."""
    widget.upload.value = (
        {
            "name": name,
            "type": "text/csv",
            "size": len(content),
            "content": memoryview(content),
            "last_modified": dt.datetime.now(dt.UTC),
        },
    )


def test_an_uploaded_csv_is_saved_mapped_and_previewed(tmp_path):
    widget = DataImport(tmp_path / "uploads")
    csv = (
        b'question,reply,persona\n"What is 2 + 3?","Step 1: add. Answer: 5",You are a tutor.\n'
        b'"And 4 + 4?","Answer: 8",\n'
    )
    upload(widget, "mine.csv", csv)
    assert (tmp_path / "uploads" / "mine.csv").read_bytes() == csv and widget.schema == "columns"
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
    path.write_text(
        json.dumps(
            [
                {"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}]},
                {"conversations": [{"from": "human", "value": "hi"}, {"from": "bing", "value": "<b>hello</b>"}]},
            ]
        )
    )
    widget = DataImport(tmp_path / "uploads")
    widget.path.value = str(path)
    widget.use_path.click()
    assert widget.schema == "sharegpt" and widget.columns.layout.display == "none" and len(widget.examples) == 1
    assert "record 2" in widget.message.value and "bing" in widget.message.value
    assert "<b>hello" not in widget.message.value  # data is escaped, never markup


LEARNER_CSV = (
    "id,blunt,polite,team\n"
    + "".join(f'{i},"Fix ticket {i} now.","Could you look at ticket {i}, please?",ops\n' for i in range(1, 11))
    + '11,"Where is it?",,ops\n12,"   ","Thanks for waiting.",ops\n'
).encode()


def test_columns_whose_names_say_nothing_convert_nothing_until_chosen(tmp_path):
    """The learner's own CSV (id, blunt, polite, team): no guess from position, no "OK"; once two columns are chosen,
    every row converts or is reported with its record number, empty and whitespace-only cells included."""
    widget = DataImport(tmp_path / "uploads")
    upload(widget, "mine.csv", LEARNER_CSV)
    assert widget.examples == [] and widget.conversion is None
    assert widget.user.value is None and widget.assistant.value is None and widget.convert.disabled
    assert "Choose them above, then press Convert" in widget.message.value and "OK" not in widget.message.value
    widget.user.value = widget.assistant.value = "blunt"
    assert widget.convert.disabled  # one column for both is no mapping
    widget.assistant.value = "polite"
    assert not widget.convert.disabled
    widget.default_system.value = "You rewrite blunt messages politely."
    widget.convert.click()
    assert (
        len(widget.examples) == 10 and "12 records read as table rows: 10 converted, 2 reported" in widget.message.value
    )
    assert "record 11 (row 12): &#x27;polite&#x27; is empty" in widget.message.value
    assert "record 12 (row 13): &#x27;blunt&#x27; is empty" in widget.message.value
    assert widget.examples[0]["messages"][0] == {"role": "system", "content": "You rewrite blunt messages politely."}


def test_columns_named_for_what_they_hold_convert_at_once(tmp_path):
    widget = DataImport(tmp_path / "uploads")
    upload(widget, "qa.csv", b"Question,Answer\nWhat is 2 + 2?,4\n")
    assert (widget.user.value, widget.assistant.value) == ("Question", "Answer") and len(widget.examples) == 1
