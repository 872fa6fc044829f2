"""A view displayed in a cell carries its snapshot: static HTML beside the live widget, for readers with no widget
manager (an HTML export, GitHub's viewer). It is written again when a cell changes the view and when a job ends."""

import ipywidgets as w

from ftwidgets.widgets import charts
from ftwidgets.widgets.snapshot import snapshot_html

from .conftest import in_a_fresh_process

IN_A_KERNEL = r"""
import json, sys
from IPython.core.interactiveshell import InteractiveShell
published = []
shell = InteractiveShell.instance()
shell.display_pub.publish = lambda data, metadata=None, **kw: published.append(
    {"data": data, "update": kw.get("update", False), "id": (kw.get("transient") or {}).get("display_id")})
from ftwidgets.review.review_store import ReviewStore, summarize
from ftwidgets.widgets import JobMonitor, ReviewSummaryView


store = ReviewStore(sys.argv[1])
shell.user_ns.update(view=ReviewSummaryView(summarize(store)), monitor=JobMonitor(), store=store, summarize=summarize)
shell.run_cell("view")  # shown as a cell's last value
shell.run_cell("monitor")
shell.run_cell("x = 1")  # nothing changed: nothing written again
shell.run_cell("store.submit('ann', 'i1', 'base', 'fine_tuned', 'B'); view.update(summarize(store))")
n = len(published)
monitor = shell.user_ns["monitor"]
monitor.show({"id": "ftjob-1", "status": "running"}, [{"type": "metrics", "data": {"step": 1, "train_loss": 2.0}}])
running = len(published) - n
monitor.show({"id": "ftjob-1", "status": "succeeded", "fine_tuned_model": "ft:done"},
             [{"type": "metrics", "data": {"step": 2, "total_steps": 2, "train_loss": 1.0}}])
print("\n" + json.dumps({"published": published, "written_while_running": running}))  # after IPython's "Out[0]: "
"""


def test_a_displayed_view_carries_its_snapshot_and_keeps_it_current(tmp_path):
    seen = in_a_fresh_process(IN_A_KERNEL, str(tmp_path / "reviews.jsonl"))
    view = "application/vnd.jupyter.widget-view+json"
    live, shown, updates = seen["published"][0:4:2], seen["published"][1:4:2], seen["published"][4:]
    for out in live:  # the live widget, with no text: an export shows the snapshot, not the widget's repr
        assert out["data"][view]["model_id"] and out["data"]["text/plain"] == "" and not out["id"]
    for out in shown:  # below it, the snapshot under a widget reference with no model: hidden where widgets run
        assert out["data"][view]["model_id"] == "" and out["id"] and not out["update"]
        assert "data:image/svg+xml;base64," in out["data"]["text/html"]  # its chart, pictured
    review_update, job_end = updates  # the unchanged cell wrote nothing; nor did the running job
    assert review_update["update"] and review_update["id"] == shown[0]["id"]
    assert "1 decisions by ann" in review_update["data"]["text/html"]
    assert seen["written_while_running"] == 0
    assert job_end["update"] and job_end["id"] == shown[1]["id"] and "ft:done" in job_end["data"]["text/html"]


def test_a_snapshot_shows_text_pictures_and_settings_but_never_a_password_or_a_button():
    plot = w.Output()
    charts.draw(plot, charts.figure([{"type": "bar", "x": ["a"], "y": [1]}], title="bars"))
    view = w.VBox(
        [
            w.HTML("<b>verdict</b>"),
            w.HBox([w.Label("steps"), w.IntProgress(value=3, max=4)]),
            plot,
            w.Dropdown(options=["x", "y"], value="y", description="model"),
            w.Password(value="sk-secret", description="key"),
            w.Button(description="Launch"),
            w.HTML("hidden", layout=w.Layout(display="none")),
        ]
    )
    html = snapshot_html(view)
    assert "<b>verdict</b>" in html and "steps" in html and "<progress value='3' max='4'>" in html
    assert html.count("data:image/svg+xml;base64,") == 1 and "model y" in html
    assert "sk-secret" not in html and "Launch" not in html and "hidden" not in html
