"""Charts as plotly.js figures written as plain data, drawn by JupyterLab's plotly renderer.

No kernel imports plotly's Python package for them. Building one `plotly.graph_objects` figure costs a kernel 20 MB
(its validators and narwhals), and `fig.show()` 25 MB more (it imports nbformat, and with it jsonschema, only to check
nbformat's version); a `FigureWidget` another 44 MB. In a learner's session five kernels draw a chart and all of them
stay open, so together that was about 0.3 GB of Binder's 2 GB.

A figure here is the dict plotly.js takes, ``{"data": [trace, ...], "layout": {...}}``: `show` displays it under
plotly's MIME type, with its static picture as SVG (`chart_svg`) for every reader that runs no plotly.js (an HTML
export opened offline, GitHub's viewer, Colab) and a line of plain text, and `draw` puts it into an ``Output`` widget
by setting its outputs, which is safe from a background thread (never through the ``Output`` context there).
JupyterLab, Notebook 7 and VS Code prefer plotly's MIME type, so they draw the live chart; nbconvert and GitHub know
only the picture.
"""

from __future__ import annotations

import json
from typing import Any

from .chart_svg import svg

PLOTLY_MIMETYPE = "application/vnd.plotly.v1+json"
MARGIN = {"l": 40, "r": 10, "t": 40, "b": 30}


def axis(title: str | None = None, **settings: Any) -> dict[str, Any]:
    """An axis's layout: its title and any other plotly.js axis settings (``range``, ``tickformat``, ...)."""
    return {**({"title": {"text": title}} if title else {}), **settings}


def figure(data: list[dict[str, Any]], *, title: str | None = None, **layout: Any) -> dict[str, Any]:
    """A figure of these traces; `layout` is plotly.js's (``height``, ``xaxis=axis(...)``, ``barmode``, ...). Every
    axis makes room for its labels (``automargin``, which plotly's Python templates set and plotly.js does not)."""
    axes = {
        k: {"automargin": True, **layout.get(k, {})}
        for k in {"xaxis", "yaxis", *layout}
        if k.startswith(("xaxis", "yaxis"))
    }
    return {
        "data": data,
        "layout": {"margin": MARGIN, **({"title": {"text": title}} if title else {}), **layout, **axes},
    }


def interval_bars(centres: list[float], lows: list[float], highs: list[float]) -> dict[str, Any]:
    """A trace's error bars (``error_x`` or ``error_y``) from each point's interval, which need not be symmetric."""
    return {
        "type": "data",
        "symmetric": False,
        "array": [high - c for c, high in zip(centres, highs)],
        "arrayminus": [c - low for c, low in zip(centres, lows)],
    }


def side_by_side(left: str, right: str, gap: float = 0.1) -> dict[str, Any]:
    """The layout of two panels side by side, titled `left` and `right`: traces of the right one name
    ``xaxis="x2", yaxis="y2"``."""
    half = (1 - gap) / 2
    title = {"xref": "paper", "yref": "paper", "y": 1.0, "yanchor": "bottom", "showarrow": False}
    return {
        "xaxis": {"domain": [0, half]},
        "xaxis2": {"domain": [1 - half, 1], "anchor": "y2"},
        "yaxis2": {"anchor": "x2"},
        "annotations": [
            {**title, "x": half / 2, "xanchor": "center", "text": left},
            {**title, "x": 1 - half / 2, "xanchor": "center", "text": right},
        ],
    }


def search_losses(results: list[Any], best: Any) -> dict[str, Any]:
    """A search's validation loss by step, a line per setting (`training.grid_search`'s results), the winner's
    bold: its losses are measured every few steps, so the points are joined."""
    lines = []
    for r in results:
        points = [(s, v) for s, v in zip(r.steps, r.valid_loss) if v is not None]
        name = f"lr x{r.settings['learning_rate_multiplier']}" + (" (winner)" if r is best else "")
        lines.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": name,
                "x": [s for s, _ in points],
                "y": [v for _, v in points],
                "line": {"width": 4 if r is best else 2},
            }
        )
    title = f"validation loss per setting: lr x{best.settings['learning_rate_multiplier']} wins"
    return figure(lines, title=title, xaxis=axis("step"), yaxis=axis("validation loss"), height=320)


def title_of(fig: dict[str, Any]) -> str:
    """The figure's title, or its panels' titles: what its plain-text line names."""
    title = fig["layout"].get("title", {}).get("text")
    if title:
        return title
    names = [a["text"] for a in fig["layout"].get("annotations", []) if a.get("text")]
    return "; ".join(names) or "chart"


def _plain(value: Any) -> Any:
    """numpy's and pandas' numbers and arrays as JSON's (their ``tolist``/``item``), for `mimebundle`."""
    for method in ("tolist", "item"):
        if hasattr(value, method):
            return getattr(value, method)()
    raise TypeError(f"a chart cannot hold {type(value).__name__}")


def mimebundle(fig: dict[str, Any]) -> dict[str, Any]:
    """What a notebook shows for the figure: plotly's MIME type, as plain JSON; its picture, where plotly.js does not
    run; and a line of text, where nothing is drawn."""
    data = json.loads(json.dumps(fig, default=_plain))
    return {PLOTLY_MIMETYPE: data, "image/svg+xml": svg(data), "text/plain": f"<chart: {title_of(fig)}>"}


def show(fig: dict[str, Any]) -> None:
    """Display the figure in the running notebook (the cell's output)."""
    from IPython.display import display

    display(mimebundle(fig), raw=True)


def draw(output: Any, fig: dict[str, Any]) -> None:
    """Put the figure into an ``ipywidgets.Output``, replacing what it showed: from any thread."""
    output.outputs = ({"output_type": "display_data", "data": mimebundle(fig), "metadata": {}},)
