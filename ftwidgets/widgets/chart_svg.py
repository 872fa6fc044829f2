"""A chart's static picture: a `charts.figure` dict (plotly.js's shape) drawn as SVG, for every reader that runs no
plotly.js: an HTML export opened offline, GitHub's and nbviewer's notebook views, Colab.

Written here, not taken from a library: plotly's own static export needs a browser (kaleido), and matplotlib would
cost each kernel about 40 MB, the very cost that took the charts out of plotly's Python package. It draws what the
workbook's charts use and no more: scatter lines and markers, bars (grouped, stacked, horizontal), histograms,
asymmetric error bars, two panels side by side, line shapes, text annotations, a title and a legend. Anything else in
a figure is left out, never an error: a picture that misses a detail beats no picture.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from html import escape
from typing import Any

WIDTH = 720  # pixels; the height is the figure's own (``layout.height``)
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22")
FONT = "Open Sans, Arial, sans-serif"
CHAR_PX = 7.0  # a 12 px label's mean character width: room for tick labels and the legend
GRID = "#e5e5e5"
TEXT = "#444"
DASHES = {"dash": ' stroke-dasharray="6,4"', "dot": ' stroke-dasharray="2,3"'}  # plotly's dash names


@dataclass
class Axis:
    """One axis: where it lies in pixels (`start` at the data's low end) and what it spans."""

    settings: dict[str, Any]
    values: list[Any] = field(default_factory=list)  # every value drawn on it, for its range or its categories
    categories: list[str] | None = None
    low: float = 0.0
    high: float = 1.0
    start: float = 0.0
    end: float = 1.0
    padded: bool = True  # scatter points get room at both ends; a bar's value axis starts at its zero

    def at(self, value: Any) -> float:
        """The pixel of a value: a category's centre, or a number's place on the range."""
        if self.categories is not None:
            index = self.categories.index(str(value)) if str(value) in self.categories else 0
            return self.start + (index + 0.5) * self.band()
        span = (self.high - self.low) or 1.0
        return self.start + (float(value) - self.low) / span * (self.end - self.start)

    def band(self) -> float:
        """A category's width in pixels (signed: a y axis runs upward)."""
        return (self.end - self.start) / max(1, len(self.categories or [None]))

    def scale(self) -> float:
        """Pixels per unit of a numeric axis (signed)."""
        return (self.end - self.start) / ((self.high - self.low) or 1.0)

    def ticks(self) -> list[tuple[float, str]]:
        """The pixel and label of each tick."""
        if self.settings.get("showticklabels") is False:
            return []
        if self.categories is not None:
            return [(self.at(c), c) for c in self.categories]
        step = nice_step((self.high - self.low) / 5)
        first = math.ceil(self.low / step - 1e-9) * step
        count = int((self.high - first) / step + 1e-9) + 1
        return [(self.at(first + k * step), tick_label(first + k * step, step, self.settings)) for k in range(count)]


def nice_step(rough: float) -> float:
    """The step of 1, 2 or 5 times a power of ten nearest above `rough`."""
    if rough <= 0 or not math.isfinite(rough):
        return 1.0
    power = 10 ** math.floor(math.log10(rough))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= rough * 0.999)


def tick_label(value: float, step: float, settings: dict[str, Any]) -> str:
    """A tick's text: the axis's ``tickformat`` where it is a d3 percent or fixed one, else as precise as the step."""
    form = re.fullmatch(r"\.(\d+)([%f])", settings.get("tickformat", ""))
    if form:
        return f"{value:.{form[1]}{form[2]}}"
    decimals = max(0, -math.floor(math.log10(step))) if step < 1 else 0
    return f"{value:,.{decimals}f}"


def plain_text(text: Any) -> str:
    """A label's text without plotly's HTML tags (``<b>``, ``<br>``), escaped for SVG."""
    return escape(re.sub(r"<[^>]+>", " ", str(text)).strip())


def histogram_as_bars(trace: dict[str, Any]) -> dict[str, Any]:
    """A histogram's counts as a bar trace: whole numbers get a bar each while they fit ``nbinsx``, otherwise bins of a
    round width."""
    xs = [float(v) for v in trace.get("x", []) if v is not None]
    if not xs:
        return {**trace, "type": "bar", "x": [], "y": []}
    low, high, bins = min(xs), max(xs), trace.get("nbinsx") or 20
    whole = all(v.is_integer() for v in xs)
    width = 1.0 if whole and high - low < bins else nice_step((high - low) / bins)
    origin = math.floor(low / width) * width - (width / 2 if width == 1.0 and whole else 0)
    counts: dict[int, int] = {}
    for v in xs:
        k = min(int((v - origin) // width), int((high - origin) // width))
        counts[k] = counts.get(k, 0) + 1
    ks = range(min(counts), max(counts) + 1)
    return {
        **trace,
        "type": "bar",
        "x": [origin + (k + 0.5) * width for k in ks],
        "y": [counts.get(k, 0) for k in ks],
        "width": width,
    }


def error_spans(trace: dict[str, Any], key: str, centres: list[Any]) -> list[tuple[float, float] | None]:
    """Each point's (low, high) from an ``error_x`` or ``error_y`` of type data."""
    bars = trace.get(key) or {}
    plus = list(bars.get("array") or [])
    minus = plus if bars.get("symmetric", True) else list(bars.get("arrayminus") or [])
    spans: list[tuple[float, float] | None] = []
    for i, c in enumerate(centres):
        if i < len(plus) and i < len(minus) and isinstance(c, (int, float)):
            spans.append((c - minus[i], c + plus[i]))
        else:
            spans.append(None)
    return spans


class Picture:
    """One figure being drawn: its axes laid out on the canvas, then its parts as SVG elements."""

    def __init__(self, fig: dict[str, Any]):
        self.layout = fig.get("layout", {})
        self.traces = [
            (i, histogram_as_bars(t) if t.get("type") == "histogram" else t)
            for i, t in enumerate(fig.get("data", []))
            if t.get("visible", True) is True
        ]
        self.height = float(self.layout.get("height") or 450)
        self.axes: dict[str, Axis] = {}
        self.parts: list[str] = []
        self._collect()
        self._frame()

    # --- the axes --------------------------------------------------------------------------------
    def axis(self, ref: str) -> Axis:
        """The axis a trace names (``x``, ``y2``), made on first use from the layout's ``xaxis``/``yaxis2``."""
        name = f"{ref[0]}axis{ref[1:]}"
        if name not in self.axes:
            self.axes[name] = Axis(dict(self.layout.get(name, {})))
        return self.axes[name]

    def _collect(self) -> None:
        """Every value each axis must show: points, bars from their base (stacked ones summed), error bars."""
        stacks: dict[tuple[str, Any], float] = {}
        for _, t in self.traces:
            x, y = self.axis(t.get("xaxis", "x")), self.axis(t.get("yaxis", "y"))
            xs, ys = list(t.get("x", [])), list(t.get("y", []))
            if t.get("type") == "bar":
                value_axis, values, places = (x, xs, ys) if t.get("orientation") == "h" else (y, ys, xs)
                value_axis.padded = False
                value_axis.values.append(0)
                if self.layout.get("barmode") == "stack":
                    for place, v in zip(places, values):
                        key = (id(value_axis), place)
                        stacks[key] = stacks.get(key, 0) + v
                        value_axis.values.append(stacks[key])
                (y if value_axis is x else x).values.extend(places)
            for axis, values, key in ((x, xs, "error_x"), (y, ys, "error_y")):
                axis.values.extend(values)
                axis.values.extend(v for span in error_spans(t, key, values) if span for v in span)
        for shape in self.layout.get("shapes", []):
            for letter in "xy":
                ref = shape.get(f"{letter}ref", letter)
                if re.fullmatch(rf"{letter}\d*", ref):
                    self.axis(ref).values.extend([shape.get(f"{letter}0"), shape.get(f"{letter}1")])
        self.axis("x"), self.axis("y")  # a figure with no traces still gets its frame
        for name, axis in self.axes.items():
            twin = axis.settings.get("matches")
            if twin:
                other = self.axis(twin)
                other.values.extend(axis.values)
                axis.values = other.values
        for axis in self.axes.values():
            self._range(axis)

    @staticmethod
    def _range(axis: Axis) -> None:
        values = [v for v in axis.values if v is not None]
        if any(isinstance(v, str) for v in values):
            axis.categories = list(dict.fromkeys(str(v) for v in values if isinstance(v, str)))
            return
        numbers = [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v)] or [0.0, 1.0]
        low, high = min(numbers), max(numbers)
        if high == low:
            low, high = low - 1, high + 1
        pad = (high - low) * 0.05
        if axis.padded:
            low, high = low - pad, high + pad
        else:  # from the bars' zero outward
            low, high = (low - pad if low < 0 else low), (high + pad if high > 0 else high)
        if axis.settings.get("range"):
            low, high = (float(v) for v in axis.settings["range"])
        axis.low, axis.high = low, high

    def _frame(self) -> None:
        """The plot area inside the margins, with room for tick labels, axis titles and the legend."""
        margin = self.layout.get("margin", {})
        y_labels = max((len(label) for label in (t for _, t in self.axis("y").ticks())), default=0)
        self.left = margin.get("l", 80) + y_labels * CHAR_PX + (18 if self._title_of("yaxis") else 0)
        self.right = WIDTH - margin.get("r", 80) - (self._legend_width() + 10 if self._legend() else 0)
        self.top = margin.get("t", 100) + (8 if self.layout.get("annotations") else 0)
        self.bottom = self.height - margin.get("b", 80) - 16 - (18 if self._title_of("xaxis") else 0)
        for name, axis in self.axes.items():
            low, high = axis.settings.get("domain", [0, 1])
            if name.startswith("x"):
                axis.start, axis.end = self._x(low), self._x(high)
            else:
                axis.start, axis.end = self._y(low), self._y(high)

    def _x(self, paper: float) -> float:
        return self.left + paper * (self.right - self.left)

    def _y(self, paper: float) -> float:
        return self.bottom - paper * (self.bottom - self.top)

    def _title_of(self, name: str) -> str:
        title = self.layout.get(name, {}).get("title")
        return (title.get("text", "") if isinstance(title, dict) else title) or ""

    def _legend(self) -> list[tuple[int, dict[str, Any]]]:
        named = [(i, t) for i, t in self.traces if t.get("name") and t.get("showlegend", True)]
        return named if len(named) > 1 and self.layout.get("showlegend", True) else []

    def _legend_width(self) -> float:
        return 30 + max(len(t["name"]) for _, t in self._legend()) * CHAR_PX

    # --- drawing ---------------------------------------------------------------------------------
    def text(self, x: float, y: float, words: Any, anchor: str = "middle", size: int = 12, **extra: Any) -> None:
        more = "".join(f' {k.replace("_", "-")}="{v}"' for k, v in extra.items())
        self.parts.append(
            f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}"{more}>{plain_text(words)}</text>'
        )

    def line(self, x0: float, y0: float, x1: float, y1: float, colour: str, width: float = 1, dash: str = "") -> None:
        self.parts.append(
            f'<line x1="{x0:.1f}" y1="{y0:.1f}" x2="{x1:.1f}" y2="{y1:.1f}" stroke="{colour}" '
            f'stroke-width="{width}"{DASHES.get(dash, "")}/>'
        )

    def draw_axes(self) -> None:
        """Each axis's tick labels along its anchor's low edge, grid lines across a numeric one, and its title."""
        for name, axis in self.axes.items():
            horizontal = name.startswith("x")
            other = self.axis(axis.settings.get("anchor") or ("y" if horizontal else "x"))
            edge = other.start  # the bottom of a panel for an x axis, its left side for a y axis
            ticks = axis.ticks()
            for at, label in ticks:
                if horizontal:
                    if axis.categories is None:
                        self.line(at, other.start, at, other.end, GRID)
                    self.text(at, edge + 16, label, fill=TEXT)
                else:
                    if axis.categories is None:
                        self.line(other.start, at, other.end, at, GRID)
                    self.text(edge - 6, at + 4, label, "end", fill=TEXT)
            title = self._title_of(name)
            if title and horizontal:
                self.text((axis.start + axis.end) / 2, edge + 34, title, fill=TEXT)
            elif title:
                x = edge - 14 - max((len(t) for _, t in ticks), default=0) * CHAR_PX
                y = (axis.start + axis.end) / 2
                self.text(x, y, title, fill=TEXT, transform=f"rotate(-90 {x:.1f} {y:.1f})")

    def draw_traces(self) -> None:
        bars = [(i, t) for i, t in self.traces if t.get("type") == "bar"]
        grouped = self.layout.get("barmode", "group") == "group"
        bases: dict[tuple[int, Any], float] = {}
        for i, t in self.traces:
            colour = self._colour(i, t)
            x, y = self.axis(t.get("xaxis", "x")), self.axis(t.get("yaxis", "y"))
            if t.get("type") == "bar":
                peers = [j for j, p in bars if (p.get("xaxis"), p.get("yaxis")) == (t.get("xaxis"), t.get("yaxis"))]
                slot = (peers.index(i), len(peers)) if grouped else (0, 1)
                self._bars(t, x, y, colour, slot, bases)
            else:
                self._scatter(t, x, y, colour)
            self._errors(t, x, y, colour)

    def _colour(self, index: int, trace: dict[str, Any]) -> str:
        for part in ("marker", "line"):
            colour = (trace.get(part) or {}).get("color")
            if isinstance(colour, str):
                return colour
        return COLOURS[index % len(COLOURS)]

    def _bars(self, t, x: Axis, y: Axis, colour: str, slot: tuple[int, int], bases) -> None:
        horizontal = t.get("orientation") == "h"
        place_axis, value_axis = (y, x) if horizontal else (x, y)
        places, values = (t.get("y", []), t.get("x", [])) if horizontal else (t.get("x", []), t.get("y", []))
        if place_axis.categories is not None:
            width = place_axis.band() * 0.8
        else:
            width = float(t.get("width") or 1.0) * place_axis.scale() * 0.95
        own = width / slot[1]
        labels = t.get("text") if isinstance(t.get("text"), list) else []
        for k, (place, value) in enumerate(zip(places, values)):
            centre = place_axis.at(place) - width / 2 + own * (slot[0] + 0.5)
            base = bases.get((id(value_axis), place), 0.0) if self.layout.get("barmode") == "stack" else 0.0
            bases[(id(value_axis), place)] = base + value
            a, b = value_axis.at(base), value_axis.at(base + value)
            if horizontal:
                box = (min(a, b), centre - abs(own) / 2, abs(b - a), abs(own))
            else:
                box = (centre - abs(own) / 2, min(a, b), abs(own), abs(b - a))
            self.parts.append(
                f'<rect x="{box[0]:.1f}" y="{box[1]:.1f}" width="{box[2]:.1f}" height="{box[3]:.1f}" fill="{colour}"/>'
            )
            if k < len(labels) and labels[k] is not None:
                if horizontal:
                    self.text(max(a, b) + 4, centre + 4, labels[k], "start", 11, fill=TEXT)
                else:
                    self.text(centre, min(a, b) - 4, labels[k], size=11, fill=TEXT)

    def _scatter(self, t, x: Axis, y: Axis, colour: str) -> None:
        points = [(x.at(a), y.at(b)) for a, b in zip(t.get("x", []), t.get("y", [])) if a is not None and b is not None]
        mode = t.get("mode", "lines+markers" if len(points) < 20 else "lines")
        style = t.get("line") or {}
        if "lines" in mode and len(points) > 1:
            path = " ".join(f"{a:.1f},{b:.1f}" for a, b in points)
            self.parts.append(
                f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="{style.get("width", 2)}"'
                f"{DASHES.get(style.get('dash'), '')}/>"
            )
        if "markers" in mode:
            self.parts.extend(f'<circle cx="{a:.1f}" cy="{b:.1f}" r="3.5" fill="{colour}"/>' for a, b in points)

    def _errors(self, t, x: Axis, y: Axis, colour: str) -> None:
        xs, ys = list(t.get("x", [])), list(t.get("y", []))
        for span, a, b in zip(error_spans(t, "error_x", xs), xs, ys):
            if span:
                row = y.at(b)
                self.line(x.at(span[0]), row, x.at(span[1]), row, colour, 1.5)
                for end in span:
                    self.line(x.at(end), row - 4, x.at(end), row + 4, colour, 1.5)
        for span, a in zip(error_spans(t, "error_y", ys), xs):
            if span:
                col = x.at(a)
                self.line(col, y.at(span[0]), col, y.at(span[1]), TEXT, 1.5)
                for end in span:
                    self.line(col - 4, y.at(end), col + 4, y.at(end), TEXT, 1.5)

    def _place(self, value: Any, ref: str, letter: str) -> float:
        """A shape's or annotation's coordinate: on the plot area (``paper``), an axis's domain, or its data."""
        if ref == "paper":
            return self._x(float(value)) if letter == "x" else self._y(float(value))
        if ref.endswith(" domain"):
            axis = self.axis(ref.split()[0])
            return axis.start + float(value) * (axis.end - axis.start)
        return self.axis(ref).at(value)

    def draw_shapes_and_notes(self) -> None:
        for shape in self.layout.get("shapes", []):
            if shape.get("type") == "line":
                xref, yref = shape.get("xref", "x"), shape.get("yref", "y")
                style = shape.get("line") or {}
                self.line(
                    self._place(shape["x0"], xref, "x"),
                    self._place(shape["y0"], yref, "y"),
                    self._place(shape["x1"], xref, "x"),
                    self._place(shape["y1"], yref, "y"),
                    style.get("color", TEXT),
                    style.get("width", 1.5),
                    style.get("dash", ""),
                )
        for note in self.layout.get("annotations", []):
            x = self._place(note.get("x", 0.5), note.get("xref", "x"), "x")
            y = self._place(note.get("y", 0.5), note.get("yref", "y"), "y")
            anchor = {"left": "start", "right": "end"}.get(note.get("xanchor"), "middle")
            self.text(x, y - 4 if note.get("yanchor") == "bottom" else y + 4, note.get("text", ""), anchor, fill=TEXT)

    def draw_title_and_legend(self) -> None:
        title = self.layout.get("title")
        text = (title.get("text") if isinstance(title, dict) else title) or ""
        if text:
            self.text(WIDTH / 2, 22, text, size=15, fill="#222")
        for row, (i, t) in enumerate(self._legend()):
            y = self.top + 12 + row * 20
            self.parts.append(
                f'<rect x="{self.right + 12:.1f}" y="{y - 9:.1f}" width="14" height="10" fill="{self._colour(i, t)}"/>'
            )
            self.text(self.right + 32, y, t["name"], "start", fill=TEXT)

    def svg(self) -> str:
        self.draw_axes()
        self.draw_traces()
        self.draw_shapes_and_notes()
        self.draw_title_and_legend()
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" class="ftw-chart" width="{WIDTH}" height="{self.height:.0f}" '
            f'viewBox="0 0 {WIDTH} {self.height:.0f}" font-family="{FONT}">'
            f'<rect width="100%" height="100%" fill="white"/>{"".join(self.parts)}</svg>'
        )


def svg(fig: dict[str, Any]) -> str:
    """The figure as one SVG document (a string), drawn with no plotly anywhere."""
    return Picture(fig).svg()
