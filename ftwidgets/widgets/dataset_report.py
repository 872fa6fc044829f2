"""DatasetReport: token lengths, turns, duplicates, diversity and the fact-versus-style verdict of a report.

DatasetReport(validate_file("data/samples/math_tutor.jsonl"))
"""

from __future__ import annotations

import ipywidgets as w

from ..data.findings import Report
from . import charts
from ._html import badge, table
from .snapshot import Snapshotted


class DatasetReport(Snapshotted, w.VBox):
    def __init__(self, report: Report):
        self.report = report
        pe, t, q = report.per_example, report.tokens, report.quality
        turns = sorted(set(pe.get("turns", [])))
        varied = len(turns) > 1  # a histogram of one value is one bar: then the number goes in the table instead
        data = [{"type": "histogram", "x": list(pe.get("tokens", [])), "nbinsx": 40, "name": "tokens"}]
        if varied:
            data.append(
                {"type": "histogram", "x": list(pe.get("turns", [])), "name": "messages", "xaxis": "x2", "yaxis": "y2"}
            )
        panels = (
            charts.side_by_side("tokens per example", "messages per example")
            if varied
            else {"title": "tokens per example"}
        )
        self.figure = charts.figure(data, height=300, showlegend=False, **panels)
        self.plot = w.Output()
        charts.draw(self.plot, self.figure)
        dist = t.get("per_example", {})
        self.numbers = w.HTML(
            table(
                ["measure", "value"],
                [
                    ("examples", f"{report.examples:,}"),
                    ("tokens in all", f"{t.get('total', 0):,} ({t.get('encoding')})"),
                    (
                        "tokens per example (mean / p95 / max)",
                        f"{dist.get('mean')} / {dist.get('p95')} / {dist.get('max')}",
                    ),
                    (
                        "messages per example",
                        f"{turns[0]} in every example"
                        if len(turns) == 1
                        else f"{turns[0]} to {turns[-1]} (histogram above)"
                        if turns
                        else "none",
                    ),
                    ("exact duplicates", q.get("exact_duplicates")),
                    ("near duplicates", q.get("near_duplicates")),
                    ("distinct system prompts", q.get("distinct_system_prompts")),
                    ("distinct user bigrams (distinct-2)", q.get("user_distinct_2")),
                    ('"auto" epochs / billable tokens', f"{t.get('auto_epochs')} / {t.get('billable_tokens', 0):,}"),
                ],
            )
        )
        fv = q.get("fact_verdict") or {}
        level = "warning" if fv.get("looks_like_facts") else "ok"
        evidence = ", ".join(str(x) for x in fv.get("evidence_lines", [])) or "none"
        self.verdict = w.HTML(
            badge(level, fv.get("sentence", "No verdict (no usable examples)."))
            + f"<div>Examples that drove it (lines): {evidence}</div>"
        )
        super().__init__([self.plot, self.numbers, self.verdict])
