"""ComparisonView: base against fine-tuned on the test set, each metric with its interval, wins and
losses per item, and the answers side by side with the disagreements first.

    from ftwidgets.evaluation.evaluate import compare
    ComparisonView(compare(evaluation, metrics))
"""

from __future__ import annotations

import ipywidgets as w

from ..evaluation.evaluate import Comparison
from . import charts
from ._html import esc, page_of, table
from .snapshot import Snapshotted

ALL, DISAGREE = "all items", "disagreements only"


class ComparisonView(Snapshotted, w.VBox):
    def __init__(self, comparison: Comparison, *, page_size: int = 10):
        self.comparison = comparison
        self.page_size = page_size
        self.verdict = w.HTML(
            "<b>Verdict</b><ul>"
            + "".join(f"<li>{esc(line)}</li>" for line in comparison.verdict().split("\n- ")[1:])
            + "</ul>"
        )
        self.figure = difference_figure(comparison)
        self.plot = w.Output()
        charts.draw(self.plot, self.figure)
        self.summary = w.HTML(summary_table(comparison))
        self._rows = comparison.per_example()
        self.show = w.ToggleButtons(options=[DISAGREE, ALL], value=DISAGREE, description="Show")
        self.page = w.BoundedIntText(value=1, min=1, max=1, description="Page")
        self.page_info = w.Label()
        self.table = w.HTML()
        self.show.observe(lambda _: self._go_first(), names="value")
        self.page.observe(lambda _: self._render(), names="value")
        super().__init__(
            [self.verdict, self.plot, self.summary, w.HBox([self.show, self.page, self.page_info]), self.table]
        )
        self._render()

    @property
    def rows(self):
        """The per-item table under the current filter (disagreements first)."""
        df = self._rows
        return df[df["disagreement"] > 0] if self.show.value == DISAGREE else df

    def _go_first(self) -> None:
        if self.page.value != 1:
            self.page.value = 1
        else:
            self._render()

    def _render(self) -> None:
        rows = self.rows
        shown, pages = page_of(rows, self.page, self.page_size)  # a DataFrame slices rows by position
        base, cand = self.comparison.baseline, self.comparison.candidate
        self.page_info.value = f"of {pages} ({len(rows)} items)"
        metrics = list(self.comparison.scores)
        self.table.value = table(
            ["item", "prompt", base, cand, *[f"{m}: {base} / {cand}" for m in metrics]],
            [
                (
                    r["item"],
                    r["prompt"],
                    r[base],
                    r[cand],
                    *[f"{r[f'{m} ({base})']:.2f} / {r[f'{m} ({cand})']:.2f}" for m in metrics],
                )
                for _, r in shown.iterrows()
            ],
            text_columns=(1, 2, 3),
        )


def difference_figure(comparison: Comparison) -> dict:
    """Two panels, one row per metric: the candidate's difference from the baseline with its 95% interval, and the
    per-item wins, ties and losses."""
    base, cand, res = comparison.baseline, comparison.candidate, comparison.results
    names = [r.metric for r in res]
    difference = {
        "type": "scatter",
        "x": [r.delta for r in res],
        "y": names,
        "mode": "markers",
        "name": "difference",
        "error_x": charts.interval_bars([r.delta for r in res], [r.low for r in res], [r.high for r in res]),
    }
    counts = [
        {
            "type": "bar",
            "orientation": "h",
            "x": values,
            "y": names,
            "name": label,
            "marker": {"color": colour},
            "xaxis": "x2",
            "yaxis": "y2",
        }
        for label, values, colour in (
            ("wins", [r.wins for r in res], "#1b5e20"),
            ("ties", [r.ties for r in res], "#9e9e9e"),
            ("losses", [r.losses for r in res], "#b00020"),
        )
    ]
    panels = charts.side_by_side(f"{cand} minus {base} (95% CI)", "per-item wins and losses")
    panels["yaxis2"].update(matches="y", showticklabels=False)  # the same metrics, row for row: named once, left
    zero = {
        "type": "line",
        "xref": "x",
        "yref": "y domain",
        "x0": 0,
        "x1": 0,
        "y0": 0,
        "y1": 1,
        "line": {"dash": "dot"},
    }
    return charts.figure([difference, *counts], barmode="stack", height=120 + 40 * len(res), shapes=[zero], **panels)


def summary_table(comparison: Comparison) -> str:
    """Each metric's two scores, their difference, its interval and the test's p-value, as an HTML table."""
    return table(
        ["metric", comparison.baseline, comparison.candidate, "difference", "95% CI", "p", "test"],
        [
            (
                r.metric,
                f"{r.baseline:.3f}",
                f"{r.candidate:.3f}",
                f"{r.delta:+.3f}",
                f"[{r.low:+.3f}, {r.high:+.3f}]",
                f"{r.p_value:.3g}",
                r.test,
            )
            for r in comparison.results
        ],
    )
