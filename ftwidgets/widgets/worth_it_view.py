"""WorthItView: the three systems of step 5 side by side (the base model, the base prompted with examples, the
fine-tuned model): each key metric, prompt tokens, seconds and a hosted price per answer, the plain verdict on
whether fine-tuning beat prompting, then fine-tuned against few-shot item by item (`ComparisonView`), and what
fine-tuning broke (`ftwidgets.evaluation.forgetting`).

A thin view over `ftwidgets.evaluation.worth_it.WorthIt` and `ftwidgets.evaluation.forgetting.Forgetting`.
"""

from __future__ import annotations

import ipywidgets as w

from ..evaluation.forgetting import Forgetting
from ..evaluation.worth_it import WorthIt
from ._html import badge, esc, table
from .comparison_view import ComparisonView
from .snapshot import Snapshotted


def _number(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


class WorthItView(Snapshotted, w.VBox):
    def __init__(self, worth: WorthIt, forgetting: Forgetting | None = None):
        self.worth, self.forgetting = worth, forgetting
        means: dict[str, dict[str, float]] = {"base": {}, "few_shot": {}, "fine_tuned": {}}
        for r in worth.prompting_versus_base.results:
            means["base"][r.metric], means["few_shot"][r.metric] = r.baseline, r.candidate
        for r in worth.versus_prompting.results:
            means["fine_tuned"][r.metric] = r.candidate
        key = [m for m in worth.key_metrics if m in means["base"]]
        rows = []
        for label in ("base", "few_shot", "fine_tuned"):
            cost = worth.costs[label]
            rows.append(
                (
                    label.replace("_", "-"),
                    cost.prompting,
                    *[f"{means[label][m]:.0%}" for m in key],
                    _number(cost.prompt_tokens, ".0f"),
                    _number(cost.seconds, ".2f"),
                    "no charge here" if cost.usd_per_1000 is None else f"${cost.usd_per_1000:.3f}",
                )
            )
        header = ["system", "prompted", *key, "prompt tokens per request", "seconds per answer", "per 1,000 answers"]
        self.systems = w.HTML(table(header, rows))
        self.verdict = w.HTML(badge("info", worth.verdict()))
        self.detail = ComparisonView(worth.versus_prompting)
        parts = [w.HTML("<b>Three systems, the same test items</b>"), self.systems, self.verdict, self.detail]
        if forgetting is not None:
            worse = forgetting.worse()
            lines = forgetting.sentence().split("\n- ")
            self.forgetting_view = w.HTML(
                "<b>What fine-tuning broke</b> (everyday prompts with your system prompt, and everyday text)"
                + badge("warning" if worse else "ok", lines[0])
                + "<ul>"
                + "".join(f"<li>{esc(line)}</li>" for line in lines[1:])
                + "</ul>"
            )
            parts.append(self.forgetting_view)
        super().__init__(parts)
