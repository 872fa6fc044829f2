"""Charts are plotly.js figures written as data: drawn by JupyterLab's plotly renderer, with no plotly import in the
kernel (a static plotly figure cost a kernel 45 MB, a FigureWidget 90), and beside it their SVG picture for readers
that run no plotly.js."""

from xml.etree import ElementTree

from ftwidgets.widgets import charts

from .conftest import in_a_fresh_process

EVERY_CHART = r"""
import json, sys
from IPython.core.interactiveshell import InteractiveShell
shown = []
shell = InteractiveShell.instance()
shell.display_pub.publish = lambda data, metadata=None, **kw: shown.append(data)
from ftwidgets.evaluation.evaluate import EvalItem, Evaluation, Generation, compare
from ftwidgets.metrics import exact_match
from ftwidgets.review.review_store import ReviewStore, summarize
from ftwidgets.data.validate import validate_file
from ftwidgets.widgets import ComparisonView, DatasetReport, JobMonitor, ReviewSummaryView, charts
from ftwidgets.workbook import SAMPLES


items = [EvalItem(f"i{k}", [{"role": "user", "content": f"{k}?"}], str(k), {}) for k in range(6)]
outputs = {"base": [Generation("0")] * 6, "fine_tuned": [Generation(str(k)) for k in range(6)]}
views = [
    DatasetReport(validate_file(SAMPLES / "math_tutor.jsonl")),
    ComparisonView(compare(Evaluation(items, {"base": "b", "fine_tuned": "t"}, outputs), [exact_match()], resamples=9)),
    ReviewSummaryView(summarize(ReviewStore(sys.argv[1]))),
    JobMonitor(),
]
views[-1].show({"id": "ftjob-1", "status": "running"},
               [{"type": "metrics", "data": {"step": 1, "total_steps": 4, "train_loss": 2.0, "valid_loss": 2.1}}])
charts.show(charts.figure([{"type": "bar", "x": ["a"], "y": [1]}], title="in a cell"))
drawn = [v.plot.outputs[0]["data"] for v in views] + shown
json.dumps(drawn)  # what goes to the browser is plain JSON
print(json.dumps({"plotly": sorted(m for m in sys.modules if m.split(".")[0] in ("plotly", "nbformat", "jsonschema")),
                  "mimetypes": [sorted(d) for d in drawn], "titles": [d["text/plain"] for d in drawn],
                  "pictures": [d["image/svg+xml"] for d in drawn]}))
"""


def test_every_chart_is_drawn_without_importing_plotly(tmp_path):
    seen = in_a_fresh_process(EVERY_CHART, str(tmp_path / "reviews.jsonl"))
    assert seen["plotly"] == []  # nor nbformat and jsonschema, which plotly's fig.show() imports
    assert seen["mimetypes"] == [["application/vnd.plotly.v1+json", "image/svg+xml", "text/plain"]] * 5
    assert seen["titles"][0] == "<chart: tokens per example>" and seen["titles"][-1] == "<chart: in a cell>"
    for picture, title in zip(seen["pictures"], seen["titles"]):  # each picture is an SVG document naming its chart
        root = ElementTree.fromstring(picture)
        texts = " ".join(t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text"))
        named = title[len("<chart: ") : -1].split("; ")[0]  # "chart" where the figure has no title (the monitor's)
        assert root.tag == "{http://www.w3.org/2000/svg}svg" and named in (texts if named != "chart" else "chart")


def test_two_panels_side_by_side_have_their_own_axes_and_titles():
    layout = charts.figure(
        [{"type": "bar", "x": [1], "y": ["m"]}, {"type": "bar", "x": [2], "y": ["m"], "xaxis": "x2", "yaxis": "y2"}],
        **charts.side_by_side("left", "right"),
    )["layout"]
    left, right = layout["xaxis"]["domain"], layout["xaxis2"]["domain"]
    assert left[0] == 0 and right[1] == 1 and left[1] < right[0]  # apart, with a gap
    assert layout["xaxis2"]["anchor"] == "y2" and layout["yaxis2"]["anchor"] == "x2"
    assert [a["text"] for a in layout["annotations"]] == ["left", "right"]
    assert charts.title_of({"layout": layout}) == "left; right"
    assert all(layout[a]["automargin"] for a in ("xaxis", "yaxis", "xaxis2", "yaxis2"))  # labels are never cut off


def test_an_output_widget_is_redrawn_by_replacing_its_outputs():
    import ipywidgets as w

    out = w.Output()
    charts.draw(out, charts.figure([], title="first"))
    charts.draw(out, charts.figure([], title="second"))
    assert len(out.outputs) == 1 and out.outputs[0]["data"]["text/plain"] == "<chart: second>"


def test_the_search_chart_draws_a_line_per_setting_with_the_winner_bold():
    from ftwidgets.training import GridResult, best_by_validation

    results = [
        GridResult({"learning_rate_multiplier": lr}, f"ftjob-{lr}", "succeeded", "ft:x", [2, 4, 6], losses)
        for lr, losses in ((0.5, [2.0, None, 1.5]), (2.0, [1.9, 1.2, 1.1]))
    ]
    fig = charts.search_losses(results, best_by_validation(results))
    assert [t["name"] for t in fig["data"]] == ["lr x0.5", "lr x2.0 (winner)"]
    assert fig["data"][0]["x"] == [2, 6] and fig["data"][0]["y"] == [2.0, 1.5]  # measured points only, joined
    assert [t["line"]["width"] for t in fig["data"]] == [2, 4]
    assert charts.title_of(fig) == "validation loss per setting: lr x2.0 wins"
