"""A chart's SVG picture draws what the figure says: bars as tall as their values, groups side by side, stacks end to
end, histograms' counts, lines through their points, error bars, and only the visible traces."""

from xml.etree import ElementTree

import pytest

from ftwidgets.widgets import charts
from ftwidgets.widgets.chart_svg import histogram_as_bars, nice_step, svg, tick_label

NS = "{http://www.w3.org/2000/svg}"


def parts(fig: dict) -> ElementTree.Element:
    return ElementTree.fromstring(svg(fig))


def bars(root) -> list[dict[str, float]]:
    """The drawn bars (every rect but the white background and the legend's swatches)."""
    rects = [r.attrib for r in root.iter(f"{NS}rect") if r.get("fill") != "white" and float(r.get("height")) != 10]
    return [{k: float(v) for k, v in r.items() if k in ("x", "y", "width", "height")} for r in rects]


def texts(root) -> list[str]:
    return [t.text or "" for t in root.iter(f"{NS}text")]


def test_bars_are_as_tall_as_their_values_on_a_percent_axis():
    fig = charts.figure(
        [{"type": "bar", "x": ["a", "b", "c"], "y": [0.25, 0.5, 1.0]}],
        title="shares",
        yaxis=charts.axis("share", range=[0, 1], tickformat=".0%"),
        height=300,
    )
    root = parts(fig)
    heights = [b["height"] for b in bars(root)]
    assert len(heights) == 3 and heights[1] == pytest.approx(2 * heights[0], abs=0.2)
    assert heights[2] == pytest.approx(4 * heights[0], abs=0.2)
    assert {"shares", "share", "a", "b", "c", "0%", "100%"} <= set(texts(root))


def test_grouped_bars_stand_side_by_side_and_stacked_ones_end_to_end():
    two = [{"type": "bar", "name": n, "x": ["q"], "y": [v]} for n, v in (("one", 1), ("two", 3))]
    left, right = bars(parts(charts.figure(two, barmode="group")))
    assert left["x"] + left["width"] <= right["x"] + 0.1  # apart, in the same category
    flat = [{**t, "orientation": "h", "x": t["y"], "y": t["x"]} for t in two]
    first, second = bars(parts(charts.figure(flat, barmode="stack")))
    assert second["x"] == pytest.approx(first["x"] + first["width"], abs=0.2)  # the second starts where the first ends
    assert second["width"] == pytest.approx(3 * first["width"], abs=0.2)
    assert {"one", "two"} <= set(texts(parts(charts.figure(two))))  # a legend names the traces


def test_a_histogram_counts_whole_numbers_one_bar_each_and_bins_the_rest():
    counted = histogram_as_bars({"type": "histogram", "x": [1, 1, 2, 4, 4, 4]})
    assert counted["x"] == [1, 2, 3, 4] and counted["y"] == [2, 1, 0, 3] and counted["width"] == 1
    binned = histogram_as_bars({"type": "histogram", "x": [v / 10 for v in range(100)], "nbinsx": 10})
    assert sum(binned["y"]) == 100 and len(binned["y"]) == 10 and binned["width"] == 1


def test_lines_go_through_every_point_and_error_bars_span_their_intervals():
    fig = charts.figure(
        [
            {"type": "scatter", "mode": "lines+markers", "x": [1, 2, 3], "y": [3, 2, 1], "name": "loss"},
            {"type": "scatter", "mode": "markers", "x": [0.5], "y": ["m"], "xaxis": "x2", "yaxis": "y2",
             "error_x": charts.interval_bars([0.5], [0.2], [0.9])},
            {"type": "scatter", "x": [1], "y": [9], "visible": False, "name": "hidden"},
        ],
        **charts.side_by_side("left", "right"),
    )  # fmt: skip
    root = parts(fig)
    (line,) = root.iter(f"{NS}polyline")
    assert len(line.get("points").split()) == 3
    assert len(list(root.iter(f"{NS}circle"))) == 4  # three on the line, one in the right panel
    assert "hidden" not in texts(root) and {"left", "right"} <= set(texts(root))
    spans = [ln for ln in root.iter(f"{NS}line") if ln.get("y1") == ln.get("y2") and ln.get("stroke") != "#e5e5e5"]
    (bar,) = [ln for ln in spans if float(ln.get("x2")) - float(ln.get("x1")) > 20]  # the interval, not its caps
    width = float(bar.get("x2")) - float(bar.get("x1"))
    caps = [ln for ln in root.iter(f"{NS}line") if ln.get("x1") == ln.get("x2") and ln.get("stroke") != "#e5e5e5"]
    assert len(caps) == 2 and width > 0


def test_ticks_are_round_and_formatted_as_the_axis_asks():
    assert [nice_step(x) for x in (0.03, 0.7, 3, 40)] == [0.05, 1, 5, 50]
    assert tick_label(0.5, 0.1, {"tickformat": ".0%"}) == "50%"
    assert tick_label(0.25, 0.05, {}) == "0.25" and tick_label(1500, 500, {}) == "1,500"


def test_an_empty_figure_is_still_a_picture():
    root = parts(charts.figure([], title="nothing yet"))
    assert "nothing yet" in texts(root) and not bars(root)
