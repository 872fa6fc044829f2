"""Property-based: whatever the bytes, validation returns a clean report, never an exception."""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ftwidgets.data.findings import CODES
from ftwidgets.data.validate import Rules, validate_file

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
roles = st.sampled_from(["system", "user", "assistant", "tool", "developer", "bot", None, 3])
messages = st.lists(
    st.fixed_dictionaries(
        {"role": roles},
        optional={
            "content": st.one_of(st.text(max_size=40), st.none(), st.integers(), st.lists(json_values, max_size=2)),
            "weight": st.one_of(st.integers(-1, 2), st.floats(allow_nan=False), st.booleans(), st.text(max_size=2)),
            "tool_calls": json_values,
            "tool_call_id": json_values,
            "name": json_values,
        },
    ),
    max_size=5,
)
examples = st.one_of(st.fixed_dictionaries({"messages": messages}, optional={"tools": json_values}), json_values)
lines = st.lists(
    st.one_of(examples.map(lambda e: json.dumps(e).encode()), st.binary(max_size=60)),
    max_size=12,
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(lines=lines, terminated=st.booleans())
def test_any_lines_give_a_clean_report(tmp_path_factory, lines, terminated):
    p = tmp_path_factory.mktemp("prop") / "d.jsonl"
    data = b"\n".join(line.replace(b"\n", b" ") for line in lines) + (b"\n" if terminated else b"")
    p.write_bytes(data)
    r = validate_file(p, rules=Rules(allow_small=True))
    n_lines = data.count(b"\n") + 1
    for f in r.findings:
        assert f.code in CODES
        assert f.line is None or 1 <= f.line <= n_lines
    assert r.valid == (r.error_count == 0)
    json.dumps(r.to_dict())  # always serialisable for --json
