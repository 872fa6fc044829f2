import pandas as pd
import pytest

from ftwidgets.data.dataset import (
    DataError,
    check_preference,
    from_csv,
    from_dataframe,
    load_jsonl,
    make_preference,
    read_jsonl,
    read_preferences,
    to_dataframe,
    write_jsonl,
    write_preferences,
)
from ftwidgets.runtime.safe_files import iter_raw_lines

from .conftest import SAMPLES, chat, write_lines


def test_reads_bom_crlf_and_blank_lines_with_physical_line_numbers(tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_bytes(b'\xef\xbb\xbf{"a": 1}\r\n\r\n   \n{"a": 2}\r\n')
    raws = list(iter_raw_lines(p))
    assert [(r.line, r.index) for r in raws] == [(1, 0), (4, 1)]
    assert [r.data for r in raws] == [b'{"a": 1}', b'{"a": 2}']
    assert list(read_jsonl(p)) == [{"a": 1}, {"a": 2}]


def test_reports_truncated_last_line(tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_bytes(b'{"a": 1}\n{"a": ')
    raws = list(iter_raw_lines(p))
    assert raws[-1].last and not raws[-1].terminated
    with pytest.raises(DataError, match="line 2.*truncated"):
        load_jsonl(p)


def test_small_blocks_do_not_split_lines(tmp_path):
    p = write_lines(tmp_path / "d.jsonl", [chat(user=f"q{i}") for i in range(50)])
    assert len(list(iter_raw_lines(p, block_size=7))) == 50


def test_write_refuses_to_overwrite_and_never_touches_the_input(tmp_path):
    p = write_lines(tmp_path / "in.jsonl", [chat()])
    before = p.read_bytes()
    with pytest.raises(DataError, match="already exists"):
        write_jsonl(p, [chat(user="other")])
    with pytest.raises(DataError, match="input"):
        write_jsonl(p, [chat(user="other")], overwrite=True, protect=[p])
    assert p.read_bytes() == before
    out = tmp_path / "out.jsonl"
    assert write_jsonl(out, [chat(), chat(user="x")]) == 2
    assert load_jsonl(out)[1]["messages"][1]["content"] == "x"


def test_from_dataframe_with_role_or_prompt_columns():
    df = pd.DataFrame({"system": ["S", ""], "user": ["u1", "u2"], "assistant": ["a1", "a2"]})
    out = from_dataframe(df, default_system="D")
    assert out[0]["messages"][0] == {"role": "system", "content": "S"}
    assert out[1]["messages"][0] == {"role": "system", "content": "D"}
    df2 = pd.DataFrame({"prompt": ["p"], "completion": ["c"]})
    assert from_dataframe(df2)[0]["messages"] == [
        {"role": "user", "content": "p"},
        {"role": "assistant", "content": "c"},
    ]
    df3 = pd.DataFrame({"question": ["q"], "answer": ["a"]})
    assert from_dataframe(df3, user="question", assistant="answer")[0]["messages"][1]["content"] == "a"


def test_wrong_column_gets_a_message_naming_the_columns():
    df = pd.DataFrame({"id": ["1"], "team": ["ops"]})
    with pytest.raises(DataError, match=r"no column name says .* \(columns: id, team\)"):
        from_dataframe(df)  # nothing guessed from position
    named = pd.DataFrame({"question": ["q"], "answer": ["a"]})
    assert from_dataframe(named)[0]["messages"] == [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "a"},
    ]
    with pytest.raises(DataError, match="'reply'"):
        from_dataframe(named, user="question", assistant="reply")
    with pytest.raises(DataError, match="both column 'question'"):
        from_dataframe(named, user="question", assistant="question")


def test_an_empty_or_blank_cell_is_named_with_its_record():
    df = pd.DataFrame({"user": ["u1", "  ", "u3"], "assistant": ["a1", "a2", ""]})
    with pytest.raises(
        DataError,
        match=r"2 row\(s\) cannot be examples: record 2: 'user' is empty; record 3: "
        r"'assistant' is empty",
    ):
        from_dataframe(df)


def test_from_csv_sample_and_roundtrip_to_dataframe():
    examples = from_csv(SAMPLES / "math_tutor.csv")
    assert len(examples) == 150
    assert examples[:5] == load_jsonl(SAMPLES / "math_tutor.jsonl")[:5]
    df = to_dataframe(examples)
    assert list(df.columns) == ["system", "user", "assistant", "turns"] and len(df) == 150


def test_from_csv_unreadable_file(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_bytes(b"")
    with pytest.raises(DataError, match="could not read"):
        from_csv(p)


def test_dpo_roundtrip_and_checks(tmp_path):
    rec = make_preference([{"role": "user", "content": "Solve 2+2"}], "Step 1...\nAnswer: 4", "4")
    assert check_preference(rec) == []
    p = tmp_path / "dpo.jsonl"
    write_preferences(p, [rec])
    assert list(read_preferences(p)) == [rec]
    assert "identical" in check_preference(make_preference([{"role": "user", "content": "q"}], "a", "a"))[0]
    bad = dict(rec, preferred_output=[{"role": "user", "content": "x"}])
    assert any("preferred_output" in m for m in check_preference(bad))
    with pytest.raises(DataError, match="record 0"):
        write_preferences(tmp_path / "x.jsonl", [bad])
    write_lines(tmp_path / "bad.jsonl", [rec, {"input": {}}])
    with pytest.raises(DataError, match="line 2"):
        list(read_preferences(tmp_path / "bad.jsonl"))


def test_json_errors_read_plainly_and_a_cut_off_last_line_is_named_with_or_without_newline(tmp_path):
    from ftwidgets.data.dataset import DataError, read_jsonl

    good = '{"messages": [{"role": "user", "content": "hi"}]}'
    for ending in ("", "\n"):
        path = tmp_path / f"cut{len(ending)}.jsonl"
        path.write_text(good + "\n" + '{"messages": [{"role": "user", "content": "ab' + ending)
        with pytest.raises(DataError, match="line 2: the last line is truncated"):
            list(read_jsonl(path))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": "a"b}\n' + good + "\n")
    with pytest.raises(DataError) as e:
        list(read_jsonl(bad))
    assert "line 1: not valid JSON: Expecting ',' delimiter at column" in str(e.value) and "at at" not in str(e.value)
    unterminated = tmp_path / "open.jsonl"
    unterminated.write_text('{"messages": "abc}\n' + good + "\n")
    with pytest.raises(DataError) as e:
        list(read_jsonl(unterminated))
    assert "Unterminated string starting at column 14" in str(e.value) and "at at" not in str(e.value)


def test_atomic_write_reaches_the_disk_before_it_renames(tmp_path, monkeypatch):
    """fsync of the new file, then the rename, then the folder's fsync: a power cut leaves old or new, never empty."""
    import os

    from ftwidgets.runtime import safe_files

    calls = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        calls.append(("fsync", os.path.isdir(f"/proc/self/fd/{fd}")))  # a folder's fsync, or a file's
        real_fsync(fd)

    monkeypatch.setattr(safe_files.os, "fsync", fsync)
    monkeypatch.setattr(safe_files.os, "replace", lambda a, b: (calls.append(("replace", None)), real_replace(a, b)))
    target = tmp_path / "out.json"
    target.write_text("old")
    safe_files.write_json_atomic(target, {"new": True})
    assert calls == [("fsync", False), ("replace", None), ("fsync", True)]
    assert target.read_text() == '{"new": true}'
