"""One reader per file type, the schema chosen apart: the same Alpaca records or the same table converted alike
from CSV, TSV, Parquet, JSON and JSON Lines, each record's place as the learner will look for it."""

import json
from pathlib import Path

import pandas as pd
import pytest

from ftwidgets.data.dataset import DataError
from ftwidgets.data.importers import convert_file, detect_schema
from ftwidgets.data.readers import READERS, fastparquet, open_source, read_csv

DATA = Path(__file__).parent / "data"
ALPACA = [
    {"instruction": "Add 2 and 3.", "input": "", "output": "5"},
    {"instruction": "Name the colour.", "input": "sky", "output": "blue"},
    {"instruction": "Say nothing.", "input": "", "output": ""},  # reported: its output is empty
]


def write(path: Path, records: list[dict]) -> Path:
    frame = pd.DataFrame(records)
    if path.suffix == ".parquet":
        fastparquet().write(str(path), frame)
    elif path.suffix in (".csv", ".tsv"):
        frame.to_csv(path, sep="\t" if path.suffix == ".tsv" else ",", index=False)
    elif path.suffix == ".json":
        path.write_text(json.dumps(records, indent=1))
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


@pytest.mark.parametrize("suffix", sorted(READERS))
def test_every_file_type_gives_the_same_examples_and_reports_the_same_record(tmp_path, suffix):
    conversion = convert_file(write(tmp_path / f"alpaca{suffix}", ALPACA))
    assert conversion.schema == "alpaca"
    assert [e["messages"][-1]["content"] for e in conversion.examples] == ["5", "blue"]
    assert conversion.examples[1]["messages"][0]["content"] == "Name the colour.\n\nsky"
    assert [(r.record, r.reason) for r in conversion.rejected] == [(3, "'output' is empty")]
    assert conversion.spreadsheet == (suffix in (".csv", ".tsv"))
    assert conversion.origins("f").where(2) == (
        "record 2 (row 3) of f" if conversion.spreadsheet else f"{conversion.unit} 2 of f"
    )


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".parquet"])
def test_a_table_whose_columns_name_the_messages_is_converted_by_its_columns(tmp_path, suffix):
    rows = [{"Question": "What is 2 + 2?", "Answer": "4", "system": "Be brief."}, {"Question": "Hi", "Answer": None}]
    path = write(tmp_path / f"qa{suffix}", rows)
    assert open_source(path).columns == ("Question", "Answer", "system")
    conversion = convert_file(path)
    assert conversion.schema == "columns" and conversion.records == 2
    assert conversion.examples[0]["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is 2 + 2?"},
        {"role": "assistant", "content": "4"},
    ]
    assert [(r.record, r.reason) for r in conversion.rejected] == [(2, "'Answer' is empty")]


def test_a_tsv_is_split_on_tabs_so_commas_stay_in_the_text(tmp_path):
    path = tmp_path / "qa.tsv"
    path.write_text("user\tassistant\nFirst, add; then carry.\tOK, done.\n")
    (example,) = convert_file(path).examples
    assert [m["content"] for m in example["messages"]] == ["First, add; then carry.", "OK, done."]


def test_a_nested_parquet_column_is_named_not_read_as_empty_cells():
    with pytest.raises(DataError, match=r"column 'messages' is nested .* save the data as JSON Lines"):
        convert_file(DATA / "nested_messages.parquet")


def test_a_damaged_parquet_file_is_said_to_be_one(tmp_path):
    path = tmp_path / "cut.parquet"
    path.write_bytes(b"PAR1" + b"\x00" * 40)
    with pytest.raises(DataError, match="could not read .*cut.parquet as Parquet"):
        detect_schema(path)


def test_a_json_file_of_json_lines_and_an_unknown_suffix_are_read_as_json(tmp_path):
    lines = write(tmp_path / "chat.jsonl", ALPACA[:1]).read_text()
    for name in ("chat.json", "chat.txt"):
        (tmp_path / name).write_text(lines)
        source = open_source(tmp_path / name)
        assert source.unit == "line" and not source.is_table
        assert convert_file(tmp_path / name).examples[0]["messages"][-1]["content"] == "5"


def test_columns_are_refused_for_json_and_a_missing_file_is_named(tmp_path):
    with pytest.raises(DataError, match="not a table"):
        convert_file(write(tmp_path / "a.jsonl", ALPACA), "columns")
    with pytest.raises(DataError, match="no such file"):
        convert_file(tmp_path / "missing.parquet")


def test_a_new_file_type_is_a_reader_and_its_suffix_and_everything_else_follows(tmp_path, monkeypatch):
    """The walk DESIGN.md gives: a pipe-separated reader registered in READERS is converted, placed and offered."""
    from ftwidgets.widgets import DataImport

    monkeypatch.setitem(READERS, ".psv", lambda path: read_csv(path, sep="|"))
    path = tmp_path / "qa.psv"
    path.write_text("question|answer\nWhat is 2 + 2, roughly?|4, exactly\n")
    conversion = convert_file(path)
    assert conversion.examples[0]["messages"][-1]["content"] == "4, exactly"
    assert conversion.origins("qa.psv").where(1) == "record 1 (row 2) of qa.psv"
    assert ".psv" in DataImport(tmp_path / "uploads").upload.accept.split(",")


def test_a_tables_schema_and_columns_come_from_its_header_alone(tmp_path):
    """Guessing the schema and offering the column choice read the header; the rows are read once, to convert."""
    path = tmp_path / "qa.csv"
    path.write_text("question,answer\nq,a\nq,a,an extra field\n")  # the third line breaks a full read
    assert detect_schema(path) == "columns" and open_source(path).columns == ("question", "answer")
    with pytest.raises(DataError, match="could not read .*qa.csv as CSV"):
        convert_file(path)
