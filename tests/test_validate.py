"""Each rule has a failing and a passing case; the samples and a real file give the expected findings."""

import json

import pytest
import tiktoken

from ftwidgets.data.findings import CODES, ERROR
from ftwidgets.data.validate import Rules, validate_examples, validate_file

from .conftest import SAMPLES, TEST_DATA, chat, write_lines

SYS = {"role": "system", "content": "You are a math tutor."}
USER = {"role": "user", "content": "Solve 2 + 3."}
ASSIST = {"role": "assistant", "content": "Step 1: Add.\nAnswer: 5"}
ALLOW = Rules(allow_small=True, hard_min_examples=1, min_examples=1, recommended_examples=1, near_duplicates=False)

# (code, failing example, a passing variant of it)
RULES = [
    ("data_type", ["a", "list"], {"messages": [SYS, USER, ASSIST]}),
    ("data_type", {"messages": [SYS, "hello", ASSIST]}, {"messages": [SYS, USER, ASSIST]}),
    ("missing_messages_list", {"prompt": "x"}, {"messages": [SYS, USER, ASSIST]}),
    ("missing_messages_list", {"messages": []}, {"messages": [USER, ASSIST]}),
    (
        "message_missing_key",
        {"messages": [{"content": "hi"}, ASSIST]},
        {"messages": [{"role": "user", "content": "hi"}, ASSIST]},
    ),
    ("message_missing_key", {"messages": [{"role": "user"}, ASSIST]}, {"messages": [USER, ASSIST]}),
    (
        "message_unrecognized_key",
        {"messages": [dict(USER, when="now"), ASSIST]},
        {"messages": [dict(USER, name="bob"), ASSIST]},
    ),
    (
        "unrecognized_role",
        {"messages": [dict(USER, role="human"), ASSIST]},
        {"messages": [dict(USER, role="developer"), USER, ASSIST]},
    ),
    ("missing_content", {"messages": [USER, dict(ASSIST, content="  ")]}, {"messages": [USER, ASSIST]}),
    ("missing_content", {"messages": [dict(USER, content=None), ASSIST]}, {"messages": [USER, ASSIST]}),
    (
        "invalid_content_type",
        {"messages": [dict(USER, content=5), ASSIST]},
        {"messages": [dict(USER, content=[{"type": "text", "text": "2+3?"}]), ASSIST]},
    ),
    (
        "invalid_content_type",
        {"messages": [dict(USER, content=[{"type": "audio"}]), ASSIST]},
        {"messages": [USER, ASSIST]},
    ),
    ("example_missing_assistant_message", {"messages": [SYS, USER]}, {"messages": [SYS, USER, ASSIST]}),
    ("last_message_not_assistant", {"messages": [USER, ASSIST, USER]}, {"messages": [USER, ASSIST, USER, ASSIST]}),
    (
        "invalid_weight",
        {"messages": [USER, dict(ASSIST, weight=2)]},
        {"messages": [USER, dict(ASSIST, weight=0), USER, dict(ASSIST, weight=1)]},
    ),
    ("invalid_weight", {"messages": [USER, dict(ASSIST, weight=True)]}, {"messages": [USER, dict(ASSIST, weight=1.0)]}),
    ("invalid_weight", {"messages": [dict(USER, weight=1), ASSIST]}, {"messages": [USER, ASSIST]}),
    (
        "reserved_token",
        {"messages": [USER, dict(ASSIST, content="5<|fim_suffix|>")]},
        {"messages": [USER, dict(ASSIST, content="5 <|not special")]},
    ),
]

TOOL_CALL = {"id": "call_1", "type": "function", "function": {"name": "add", "arguments": '{"a": 2, "b": 3}'}}
TOOL_OK = {
    "messages": [
        USER,
        {"role": "assistant", "content": None, "tool_calls": [TOOL_CALL]},
        {"role": "tool", "tool_call_id": "call_1", "content": "5"},
        ASSIST,
    ],
    "tools": [{"type": "function", "function": {"name": "add", "parameters": {}}}],
}
RULES += [
    (
        "invalid_tool_call",
        {"messages": [USER, {"role": "assistant", "tool_calls": [dict(TOOL_CALL, type="fn")]}, ASSIST]},
        TOOL_OK,
    ),
    (
        "invalid_tool_call",
        {
            "messages": [
                USER,
                {
                    "role": "assistant",
                    "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{oops"}}],
                },
                ASSIST,
            ]
        },
        TOOL_OK,
    ),
    (
        "invalid_tool_call",
        {"messages": [USER, {"role": "tool", "tool_call_id": "call_1", "content": "5"}, ASSIST]},
        TOOL_OK,
    ),
    ("invalid_tool_call", dict(TOOL_OK, tools=[{"type": "function"}]), TOOL_OK),
    ("invalid_tool_call", {"messages": [USER, {"role": "tool", "content": "5"}, ASSIST]}, TOOL_OK),
]


def codes(report):
    return {f.code for f in report.findings}


@pytest.mark.parametrize("code,bad,good", RULES, ids=[r[0] for r in RULES])
def test_each_rule_fails_and_passes(code, bad, good):
    bad_report = validate_examples([bad], rules=ALLOW)
    assert code in codes(bad_report), [str(f) for f in bad_report.findings]
    assert not bad_report.valid
    good_report = validate_examples([good], rules=ALLOW)
    assert good_report.valid, [str(f) for f in good_report.findings]


def test_invalid_json_encoding_and_truncation_have_line_numbers(tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_bytes(
        json.dumps(chat()).encode()
        + b'\n\n{"messages": [\n'
        + b'{"messages": "\xff"}\n'
        + json.dumps(chat())[:-5].encode()
    )
    r = validate_file(p, rules=ALLOW)
    got = {(f.code, f.line) for f in r.findings if f.severity == ERROR and f.line}
    assert got == {("invalid_json", 3), ("invalid_encoding", 4), ("invalid_json", 5)}
    assert "truncated" in next(f.message for f in r.findings if f.line == 5)


def test_too_many_tokens_uses_the_model_limit():
    long = chat(user="word " * 17_000)
    assert "too_many_tokens" in codes(validate_examples([long], rules=Rules(model="gpt-3.5-turbo-0125", **_small())))
    assert "too_many_tokens" not in codes(
        validate_examples([long], rules=Rules(model="gpt-4o-mini-2024-07-18", **_small()))
    )
    assert "too_many_tokens" in codes(validate_examples([chat()], rules=Rules(token_limit=10, **_small())))
    assert "long_example" in codes(validate_examples([long], rules=Rules(**_small())))


def _small():
    return dict(allow_small=True, hard_min_examples=1, min_examples=1, recommended_examples=1)


def test_size_policy(tmp_path):
    def report(n, **kw):
        exs = [chat(user=f"Solve {i} + {2 * i} and explain it to me like a tutor.") for i in range(n)]
        return validate_examples(exs, rules=Rules(near_duplicates=False, **kw))

    assert "empty_file" in codes(validate_file(write_lines(tmp_path / "e.jsonl", [])))
    assert "too_few_examples" in codes(report(9, allow_small=True))  # OpenAI's hard minimum
    r30 = report(30)
    assert "too_few_examples" in codes(r30) and not r30.valid  # refused by default
    r30ok = report(30, allow_small=True)
    assert r30ok.valid and "small_dataset" in codes(r30ok)  # only an explicit flag lets it through
    r150 = report(150)
    assert r150.valid and "small_dataset" in codes(r150)
    assert "small_dataset" not in codes(report(500))


def test_warnings_system_user_duplicates_personal_data():
    words = "apple river stone cloud maple tiger piano lemon orbit candle velvet harbor".split()
    exs = [
        chat(
            user=f"Write a short poem about a {w} in the {words[(i + 5) % 12]} season.",
            answer=f"The {w} waits where the {words[(i + 3) % 12]} sleeps; a {words[(i + 7) % 12]} hums.",
        )
        for i, w in enumerate(words)
    ]
    exs.append(dict(exs[0]))  # exact duplicate of example 0
    near = json.loads(json.dumps(exs[1]))
    near["messages"][2]["content"] += " Well done!"
    exs.append(near)
    exs.append(chat(system=None))
    exs.append({"messages": [SYS, ASSIST]})
    exs.append(chat(user="Email me at jane.doe@example.com or call +1 415-555-0100"))
    exs.append(
        chat(answer="Use key " + "sk-" + "proj-" + "Ab3" * 8)
    )  # built at run time: no key-like literal in the tree
    r = validate_examples(exs, rules=Rules(**_small()))
    by_code = {}
    for f in r.findings:
        by_code.setdefault(f.code, []).append(f)
    assert [f.example for f in by_code["exact_duplicate"]] == [12] and "line 1" in by_code["exact_duplicate"][0].message
    assert [f.example for f in by_code["near_duplicate"]] == [13]
    assert [f.example for f in by_code["no_system_message"]] == [14]
    assert [f.example for f in by_code["no_user_message"]] == [15]
    assert {f.example for f in by_code["personal_data"]} == {16, 17}
    assert "jane" not in " ".join(f.message for f in by_code["personal_data"])  # redacted
    assert r.valid


def test_clean_data_has_no_warnings():
    r = validate_file(SAMPLES / "math_tutor.jsonl")
    assert r.valid and not r.findings, [str(f) for f in r.findings[:5]]
    assert r.examples == r.usable_examples == 1200


def test_broken_sample_lists_every_error_code_with_its_line():
    r = validate_file(SAMPLES / "broken.jsonl")
    # every chat-file error code ("invalid_preference" is for DPO files: tests/test_review.py covers it)
    error_codes = {c for c, spec in CODES.items() if spec.severity == ERROR} - {"invalid_preference"}
    assert error_codes <= set(r.counts), error_codes - set(r.counts)
    line_level = [f for f in r.errors if f.code not in ("empty_file", "too_few_examples")]
    assert all(f.line is not None for f in line_level)
    assert {f.line for f in line_level} == {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 17}


def test_token_total_equals_tiktoken_o200k_count():
    """The documented convention: 3 per message + encoded values (+1 per name) + 3 reply priming."""
    enc = tiktoken.get_encoding("o200k_base")
    expected = 0
    with open(SAMPLES / "math_tutor.jsonl", encoding="utf-8") as fh:
        for line in fh:
            expected += 3
            for m in json.loads(line)["messages"]:
                expected += 3 + sum(len(enc.encode(v)) for v in m.values())
    r = validate_file(SAMPLES / "math_tutor.jsonl")
    assert r.tokens["total"] == expected
    assert r.tokens["encoding"] == "o200k_base"
    assert r.tokens["auto_epochs"] == 3 and r.tokens["billable_tokens"] == 3 * expected


def test_cookbook_toy_file_findings_match_a_careful_read():
    """OpenAI's own toy file: 5 examples, one without a system message, one without a user
    message, and one whose answer repeats "Eat a banana!" for 8,000 tokens."""
    r = validate_file(TEST_DATA / "toy_chat_fine_tuning.jsonl")
    assert r.examples == 5
    got = sorted((f.code, f.line) for f in r.findings)
    assert got == [
        ("long_example", 5),
        ("no_system_message", 3),
        ("no_user_message", 4),
        ("repetitive_text", 5),
        ("too_few_examples", None),
    ]
    assert not r.valid  # 5 examples is under OpenAI's minimum of 10
    assert r.usable_examples == 5 and r.tokens["over_limit"] == 0
    assert r.tokens["auto_epochs"] == 20  # ceil(100 / 5)
    assert r.quality["fact_verdict"]["looks_like_facts"] is False


def test_fact_verdict_flags_facts_not_math():
    facts = validate_file(SAMPLES / "facts.jsonl")
    assert facts.quality["fact_verdict"]["looks_like_facts"] is True
    assert "retrieval" in facts.quality["fact_verdict"]["sentence"]
    assert facts.quality["fact_verdict"]["evidence_lines"]
    assert "looks_like_facts" in facts.counts
    math = validate_file(SAMPLES / "math_tutor.jsonl")
    assert math.quality["fact_verdict"]["looks_like_facts"] is False


def test_worker_processes_give_the_same_report(tmp_path):
    lines = [json.loads(x) for x in open(SAMPLES / "math_tutor.jsonl")][:600]
    lines[300] = lines[10]
    p = write_lines(tmp_path / "d.jsonl", lines + [b"{oops"])
    one = validate_file(p, workers=1, chunk_lines=64)
    two = validate_file(p, workers=2, chunk_lines=64)
    assert one.to_dict() == two.to_dict()
    assert one.counts["exact_duplicate"] == 1 and one.counts["invalid_json"] == 1


def test_findings_are_capped_per_code_but_counted_exactly():
    exs = [chat(system=None, user=f"Solve {i} + {i * 3} and explain carefully.") for i in range(120)]
    r = validate_examples(exs, max_per_code=5)
    assert r.counts["no_system_message"] == 120
    assert sum(f.code == "no_system_message" for f in r.findings) == 5
    df = r.to_dataframe()
    assert {"line", "code", "severity", "hint"} <= set(df.columns)
