"""ReviewSummaryView: who won the blind review (with 95% intervals), tags, rubric scores, agreement.

view = ReviewSummaryView(summarize(store, reviewers=people(store)))
review.on_decision(lambda: view.update(summarize(store, reviewers=people(store))))  # live
"""

from __future__ import annotations

import ipywidgets as w

from ..review.review_store import ReviewSummary
from . import charts
from ._html import esc, table
from .snapshot import Snapshotted


class ReviewSummaryView(Snapshotted, w.VBox):
    def __init__(self, summary: ReviewSummary):
        self.sentence, self.plot, self.details = w.HTML(), w.Output(), w.HTML()
        self.figure = None
        super().__init__([self.sentence, self.plot, self.details])
        self.update(summary)

    def update(self, summary: ReviewSummary) -> None:
        """Show another summary (after each decision, so the view never goes stale)."""
        self.summary = summary
        self.sentence.value = f"<b>{esc(summary.sentence())}</b>"
        labels = list(summary.labels)
        rates = [summary.win_rates[lab] for lab in labels]
        shown = [r.estimate if summary.decisions else 0 for r in rates]
        bars = {
            "type": "bar",
            "x": labels,
            "y": shown,
            "error_y": charts.interval_bars(shown, [r.low for r in rates], [r.high for r in rates]),
        }
        self.figure = charts.figure(
            [bars],
            title="preferred in the blind review (95% Wilson interval)",
            yaxis=charts.axis(tickformat=".0%", range=[0, 1]),
            height=300,
        )
        charts.draw(self.plot, self.figure)
        ag = summary.agreement
        pairs = [(pair, v["items"], f"{v['cohen_kappa']:.2f}") for pair, v in ag.get("pairs", {}).items()]
        self.details.value = (
            table(
                ["reviewer", *labels, "tie", "both bad"],
                [
                    (r, c[labels[0]], c[labels[1]], c["tie"], c["both_bad"])
                    for r, c in sorted(summary.per_reviewer.items())
                ],
            )
            + "<b>Tags</b>"
            + table(["tag", "count"], summary.tags.most_common())
            + "<b>Mean rubric score (1-5)</b>"
            + table(["model", "mean"], [(k, f"{v:.2f}") for k, v in summary.rubric.items()])
            + (
                "<b>Agreement between reviewers</b>"
                + table(["reviewers", "shared items", "Cohen's kappa"], pairs)
                + f"Krippendorff's alpha over these reviewers: {ag['krippendorff_alpha']:.2f}"
                if pairs
                else "<i>Agreement needs two reviewers on the same items.</i>"
            )
        )
