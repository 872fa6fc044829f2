"""A view's snapshot: what a widget shows, written as HTML into its cell's output beside the live widget, so that a
reader with no widget manager sees the view's state: a notebook exported with ``jupyter nbconvert --to html`` and
opened offline, GitHub's and nbviewer's views.

A view displayed at a cell's top level writes two outputs. The first is the live widget, which every widget manager
draws. The second is its snapshot: the HTML under a widget reference with no model (``model_id: ""``, what
ipywidgets itself writes for a closed widget), which a widget manager hides and nbconvert, holding no widget state,
passes over for the HTML; each chart in it is its SVG picture (`chart_svg`). The snapshot is written again, under
its display id, after each cell that changed the view (IPython's ``post_run_cell``) and when a job's monitor sees
its job end, so an export shows a job's final curves and a review's final counts. Only the hidden output is
rewritten: the live widget is never drawn again, so a chart inside it is never torn down mid-draw.
"""

from __future__ import annotations

import base64
import threading
from html import escape
from typing import Any

import ipywidgets as w

SNAPSHOT_STYLE = "font-family: sans-serif; font-size: 13px; margin: 4px 0"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
NO_MODEL = {"version_major": 2, "version_minor": 0, "model_id": ""}  # hidden by widget managers, skipped by nbconvert


def _output_html(output: dict[str, Any]) -> str:
    """One captured output of an ``Output`` widget, as the page shows it: a picture, HTML, or text."""
    if output.get("output_type") == "stream":
        return f"<pre>{escape(output.get('text', ''))}</pre>"
    if output.get("output_type") == "error":
        return f"<pre>{escape(output.get('ename', ''))}: {escape(output.get('evalue', ''))}</pre>"
    data = output.get("data", {})
    if "image/svg+xml" in data:
        picture = base64.b64encode(data["image/svg+xml"].encode()).decode()
        return f'<img src="data:image/svg+xml;base64,{picture}" alt="{escape(data.get("text/plain", "chart"))}">'
    if "text/html" in data:
        return data["text/html"]
    return f"<pre>{escape(data['text/plain'])}</pre>" if "text/plain" in data else ""


def _value_html(widget: w.Widget) -> str:
    """A control as a line of text: its description and its value (a password never)."""
    if isinstance(widget, w.Password):
        return ""
    value = getattr(widget, "value", None)
    if isinstance(widget, (w.Textarea, w.Text)) and value:
        text = f"<pre style='white-space: pre-wrap'>{escape(str(value))}</pre>"
    else:
        text = escape(", ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value))
    label = getattr(widget, "description", "")
    return f"<div>{escape(label)} {text}</div>" if label else f"<div>{text}</div>"


def snapshot_html(widget: w.Widget) -> str:
    """The widget's current state as static HTML: its text, tables, pictures and settings, never its buttons."""
    layout = getattr(widget, "layout", None)
    if layout is not None and (layout.display == "none" or layout.visibility == "hidden"):
        return ""
    if isinstance(widget, (w.Accordion, w.Tab)):  # each part open, under its title
        titles = list(widget.titles) + [""] * len(widget.children)
        return "".join(
            f"<details open><summary>{escape(title)}</summary>{snapshot_html(c)}</details>"
            for title, c in zip(titles, widget.children)
        )
    if isinstance(widget, w.Box):
        inner = "".join(snapshot_html(c) for c in widget.children)
        row = isinstance(widget, w.HBox)
        return f"<div style='display: flex; gap: 12px; align-items: baseline'>{inner}</div>" if row else inner
    if isinstance(widget, (w.HTML, w.HTMLMath)):
        return widget.value
    if isinstance(widget, w.Label):
        return f"<span>{escape(widget.value)}</span>"
    if isinstance(widget, w.Output):
        return "".join(_output_html(o) for o in widget.outputs)
    if isinstance(widget, (w.IntProgress, w.FloatProgress)):
        return f"<progress value='{widget.value}' max='{widget.max}'></progress> {escape(widget.description)}"
    if isinstance(widget, (w.Button, w.FileUpload)) or not isinstance(widget, w.ValueWidget):
        return ""
    return _value_html(widget)


_SHOWN: list[tuple[w.Widget, Any, str]] = []  # each view displayed at a cell's top level: its handle, its last HTML
_SHOWN_LOCK = threading.Lock()  # a job's watching thread and the cell's own thread may both write a snapshot
SHOWN_AT_MOST = 64  # the newest displays kept current; an older one is a cell run over and over, long since cleared


def _bundle(widget: w.Widget) -> tuple[dict[str, Any], str]:
    """The snapshot's output: its HTML where no widget manager runs, nothing where one does."""
    html = f"<div class='ftw-snapshot' style='{SNAPSHOT_STYLE}'>{snapshot_html(widget)}</div>"
    return {WIDGET_VIEW: NO_MODEL, "text/html": html}, html


def rewrite_snapshots(*_: Any) -> None:
    """Write again the snapshot of every view shown whose HTML changed. It is also IPython's ``post_run_cell``
    callback, which passes the cell's result (ignored)."""
    with _SHOWN_LOCK:
        for k, (view, handle, before) in enumerate(_SHOWN):
            try:
                bundle, html = _bundle(view)
            except Exception:  # noqa: BLE001 - a snapshot is a courtesy to other readers: it never fails a cell
                continue
            if html != before:
                handle.update(bundle, raw=True)
                _SHOWN[k] = (view, handle, html)


class Snapshotted:
    """A view that, displayed at a cell's top level, writes its snapshot below the live widget and keeps it current
    (the live widget's text is empty: an export shows the snapshot, not the widget's Python repr).

    Mixed into the views before their ipywidgets base: ``class JobMonitor(Snapshotted, w.VBox)``."""

    def _ipython_display_(self) -> None:
        from IPython import get_ipython
        from IPython.display import display

        display({**self._repr_mimebundle_(), "text/plain": ""}, raw=True)  # type: ignore[attr-defined]  # the live widget
        bundle, html = _bundle(self)  # type: ignore[arg-type]
        handle = display(bundle, raw=True, display_id=True)
        with _SHOWN_LOCK:  # its newest display only
            _SHOWN[:] = [entry for entry in _SHOWN if entry[0] is not self][-SHOWN_AT_MOST + 1 :]
            _SHOWN.append((self, handle, html))  # type: ignore[arg-type]
        shell = get_ipython()
        if shell is not None and rewrite_snapshots not in shell.events.callbacks["post_run_cell"]:
            shell.events.register("post_run_cell", rewrite_snapshots)
