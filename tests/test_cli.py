"""The `ftw` command as a user runs it: exit codes, JSON for machines, no tracebacks."""

import json
import subprocess
import sys

import pytest

from .conftest import SAMPLES, TEST_DATA


def ftw(*args, cwd=None):
    p = subprocess.run(
        [sys.executable, "-m", "ftwidgets.cli", *map(str, args)], capture_output=True, text=True, cwd=cwd
    )
    assert "Traceback" not in p.stderr + p.stdout, p.stderr
    return p


def test_validate_exit_codes():
    assert ftw("validate", SAMPLES / "math_tutor.jsonl").returncode == 0
    bad = ftw("validate", SAMPLES / "broken.jsonl")
    assert bad.returncode == 1 and "invalid_json" in bad.stdout and "line" in bad.stdout
    assert ftw("validate", "does-not-exist.jsonl").returncode == 2
    assert ftw("validate").returncode == 2
    assert ftw("validate", SAMPLES / "math_tutor.jsonl", "--bogus").returncode == 2
    assert ftw().returncode == 2


def test_validate_json_shape():
    p = ftw("validate", SAMPLES / "broken.jsonl", "--json")
    assert p.returncode == 1
    out = json.loads(p.stdout)
    assert out["valid"] is False and isinstance(out["examples"], int)
    assert all({"line", "code"} <= set(e) for e in out["errors"] + out["warnings"])
    assert isinstance(out["tokens"]["total"], int)
    good = json.loads(ftw("validate", TEST_DATA / "toy_chat_fine_tuning.jsonl", "--json", "--allow-small").stdout)
    assert good["examples"] == 5 and good["tokens"]["total"] > 8000


@pytest.mark.parametrize("content", [b"\x00\x01\x02binary\xff", b"", b"\n\n", b"[1,2]\n", b"{" * 10000])
def test_garbage_never_tracebacks(tmp_path, content):
    f = tmp_path / "g.jsonl"
    f.write_bytes(content)
    p = ftw("validate", f, "--json")
    assert p.returncode == 1
    assert json.loads(p.stdout)["valid"] is False


def test_validate_a_directory_is_a_usage_error(tmp_path):
    p = ftw("validate", tmp_path)
    assert p.returncode == 2 and "ftw: error" in p.stderr


def test_stats_split_convert(tmp_path):
    s = ftw("stats", SAMPLES / "math_tutor.jsonl", "--json")
    assert json.loads(s.stdout)["examples"] == 1200
    sp = ftw("split", SAMPLES / "math_tutor.jsonl", "--out", tmp_path / "sp", "--seed", "3")
    assert sp.returncode == 0 and "train 960" in sp.stdout
    again = ftw("split", SAMPLES / "math_tutor.jsonl", "--out", tmp_path / "sp")
    assert again.returncode == 2 and "--force" in again.stderr
    c = ftw("convert", SAMPLES / "math_tutor.csv", "--out", tmp_path / "c.jsonl")
    assert c.returncode == 0 and "150" in c.stdout
    assert ftw("convert", SAMPLES / "math_tutor.csv", "--out", tmp_path / "c.jsonl").returncode == 2
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("text_a,text_b\nq,a\n")
    w = ftw("convert", wrong, "--out", tmp_path / "w.jsonl")
    assert w.returncode == 2 and "text_a, text_b" in w.stderr
    assert not (tmp_path / "w.jsonl").exists()


def test_a_closed_pipe_ends_quietly(tmp_path):
    """`ftw validate big.jsonl | head -n 1`: the reader leaves early, and ftw exits 0 without a word."""
    big = tmp_path / "big.jsonl"
    big.write_text('{"messages": [{"role": "user", "content": ""}]}\n' * 3000)
    p = subprocess.run(
        f"{sys.executable} -m ftwidgets.cli validate {big} --limit 3000 | head -n 1; "
        'echo "exit=${PIPESTATUS[0]}" >&2',
        shell=True,
        executable="/bin/bash",
        capture_output=True,
        text=True,
    )
    assert p.stdout.startswith(f"{big}: INVALID") and len(p.stdout.splitlines()) == 1
    assert p.stderr.strip() == "exit=0", p.stderr


def test_convert_reports_empty_mapped_cells_with_their_records_and_exits_1(tmp_path):
    from .widgets.test_data_import import LEARNER_CSV

    source = tmp_path / "mine.csv"
    source.write_bytes(LEARNER_CSV)
    p = ftw("convert", source, "--user", "blunt", "--assistant", "polite", "--out", tmp_path / "out.jsonl")
    assert p.returncode == 1, p.stdout + p.stderr
    assert "10 converted, 2 reported" in p.stdout and "record 11 (row 12): 'polite' is empty" in p.stdout
    assert "record 12 (row 13): 'blunt' is empty" in p.stdout
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 10


def test_convert_of_unknown_columns_without_a_mapping_writes_nothing(tmp_path):
    from .widgets.test_data_import import LEARNER_CSV

    source = tmp_path / "mine.csv"
    source.write_bytes(LEARNER_CSV)
    p = ftw("convert", source, "--out", tmp_path / "out.jsonl")
    assert p.returncode == 2 and "no column name says which holds the user's message" in p.stderr
    assert "id, blunt, polite, team" in p.stderr and not (tmp_path / "out.jsonl").exists()


def test_graders_propose_and_grade_on_a_flawed_file(tmp_path):
    """A BOM, Windows line endings, a line that is not JSON and an example with no reply: each said by line."""
    data = tmp_path / "orders.jsonl"
    good = [json.dumps(json.loads(line)) for line in (SAMPLES / "own_orders.jsonl").read_text().splitlines()[:6]]
    no_reply = json.dumps({"messages": [{"role": "user", "content": "2 lattes"}]})
    data.write_bytes(("\ufeff" + "\r\n".join([good[0], "{not json", no_reply, *good[1:]]) + "\r\n").encode())
    proposed = ftw("graders", "propose", data)
    assert proposed.returncode == 0
    assert "line 2: not valid JSON" in proposed.stderr and "line 3: ends without an assistant reply" in proposed.stderr
    graders = json.loads(proposed.stdout)
    assert [g["name"] for g in graders][:3] == ["valid JSON", "exact match", "field name"]
    (tmp_path / "graders.json").write_text(proposed.stdout)
    own = json.loads(ftw("grade", "--graders", tmp_path / "graders.json", "--data", data).stdout)
    assert own["graders"]["exact match"] == {"mean": 1.0, "n": 6}
    answers = tmp_path / "answers.jsonl"
    wrong = json.dumps({**json.loads(json.loads(good[0])["messages"][-1]["content"]), "size": "huge"})
    lines = [{"output_text": wrong}] + [{"output_text": json.loads(g)["messages"][-1]["content"]} for g in good[1:]]
    answers.write_text("".join(json.dumps(x) + "\n" for x in lines))
    graded = json.loads(
        ftw("grade", "--graders", tmp_path / "graders.json", "--data", data, "--answers", answers).stdout
    )
    assert graded["graders"]["field size"]["mean"] == pytest.approx(5 / 6)
    assert graded["graders"]["field name"]["mean"] == 1.0
    short = tmp_path / "short.jsonl"
    short.write_text(json.dumps({"output_text": "x"}) + "\n")
    mismatch = ftw("grade", "--graders", tmp_path / "graders.json", "--data", data, "--answers", short)
    assert mismatch.returncode == 2 and "one answer line per example" in mismatch.stderr
    (tmp_path / "bad.json").write_text('[{"type": "string_check", "name": "x", "input": "a", "reference": "b"}]')
    bad = ftw("grade", "--graders", tmp_path / "bad.json", "--data", data)
    assert bad.returncode == 2 and "graders.0.operation" in bad.stderr
    nothing = tmp_path / "nothing.jsonl"
    nothing.write_text("nope\n")
    assert ftw("graders", "propose", nothing).returncode == 1
