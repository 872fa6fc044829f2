"""ComparisonView over a real comparison: intervals plotted, disagreements first, filters."""

from ftwidgets.evaluation.evaluate import EvalItem, Evaluation, Generation, compare
from ftwidgets.metrics import exact_match, format_compliance
from ftwidgets.widgets import ComparisonView


def _evaluation(n=25):
    items = [EvalItem(f"i{k}", [{"role": "user", "content": f"{k}+{k}?"}], f"Answer: {2 * k}", {}) for k in range(n)]
    base = [Generation(f"Answer: {2 * k}" if k < 5 else f"{2 * k}") for k in range(n)]  # right answer, format only on 5
    tuned = [Generation(f"Answer: {2 * k + (k == 7)}") for k in range(n)]  # one wrong answer
    return Evaluation(items, {"base": "b", "fine_tuned": "t"}, {"base": base, "fine_tuned": tuned})


def test_comparison_view_shows_intervals_and_disagreements_first():
    comp = compare(_evaluation(), [format_compliance(r"^Answer: \d+$"), exact_match()], resamples=500)
    view = ComparisonView(comp, page_size=5)
    scatter = view.figure["data"][0]
    assert list(scatter["y"]) == ["format compliance", "answer accuracy"]
    assert scatter["x"][0] == 0.8 and len(scatter["error_x"]["array"]) == 2
    assert view.figure["layout"]["yaxis2"]["matches"] == "y"  # the wins and losses sit on the same metric rows
    assert "fine-tuned is better on format compliance" in view.verdict.value
    assert len(view.rows) == 20 and view.page.max == 4  # 20 items differ
    assert view.rows.iloc[0]["item"] == 7  # differs on both metrics: first
    assert "7+7?" in view.table.value
    view.page.value = 4
    view.show.value = "all items"
    assert view.page.value == 1 and len(view.rows) == 25 and view.page.max == 5


def test_comparison_view_escapes_model_output():
    ev = _evaluation(3)
    ev.outputs["fine_tuned"][0] = Generation("<script>alert(1)</script>")
    view = ComparisonView(compare(ev, [exact_match()], resamples=100))
    assert "<script>" not in view.table.value and "&lt;script&gt;" in view.table.value


def test_verdict_lists_failed_generations():
    ev = _evaluation(4)
    ev.outputs["fine_tuned"][1] = Generation("", error="400: too long")
    view = ComparisonView(compare(ev, [exact_match()], resamples=100))
    assert "fine_tuned 1" in view.verdict.value  # failed answers are counted, not hidden
