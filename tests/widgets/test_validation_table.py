from ftwidgets.data.validate import validate_file
from ftwidgets.widgets import ValidationTable

from ..conftest import SAMPLES


def test_filters_and_pages_change_the_rows():
    t = ValidationTable(validate_file(SAMPLES / "broken.jsonl"), page_size=5)
    everything = len(t.rows)
    assert everything == sum(t.report.counts.values())
    assert "invalid_json" in t.table.value and "line" in t.table.value
    t.severity.value = "warning"
    assert t.rows and all(f.severity == "warning" for f in t.rows)
    t.severity.value = "all"
    t.code.value = "invalid_json"
    assert [f.line for f in t.rows] == [1, 17]
    t.code.value = "all"
    assert t.page.max == -(-everything // 5)
    first_page = t.table.value
    t.page.value = 2
    assert t.table.value != first_page


def test_jump_to_an_example_and_escape_markup(tmp_path):
    t = ValidationTable(validate_file(SAMPLES / "broken.jsonl"))
    t.line.value = 7
    assert "student" in t.example.value
    t.line.value = 16  # the blank line
    assert "blank" in t.example.value
    p = tmp_path / "x.jsonl"
    p.write_text('{"messages": [{"role": "<script>", "content": "x"}]}\n')
    t2 = ValidationTable(validate_file(p))
    assert "<script>" not in t2.table.value and "&lt;script&gt;" in t2.table.value


def test_a_clean_file_says_no_findings(tmp_path):
    from ftwidgets.data.validate import Rules, validate_file

    from ..conftest import chat, write_lines

    clean = write_lines(
        tmp_path / "clean.jsonl",
        [chat(user=f"Solve {i} + 3 and explain.", answer=f"Step 1: Add.\nAnswer: {i + 3}") for i in range(12)],
    )
    view = ValidationTable(validate_file(clean, rules=Rules(allow_small=True, recommended_examples=1)))
    assert "No findings" in view.summary.value and "<th" not in view.summary.value
    assert "No findings" in view.table.value and "<th" not in view.table.value
