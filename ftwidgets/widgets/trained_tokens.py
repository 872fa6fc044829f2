"""TrainedTokens: what the model learns from, shown. A few examples rendered as the job sees them (through the
model's chat template for the engine), the trained text highlighted and the rest greyed, with the count of trained
tokens per example and for the file, and every example that trains nothing named by its line.

A thin view over `ftwidgets.data.labels.LabelReport`."""

from __future__ import annotations

import ipywidgets as w

from ..data.labels import LabelReport
from ..data.origins import Origins
from ._html import badge, esc
from .snapshot import Snapshotted

TRAINED = "background:#c8e6c9;color:#1b5e20;border-radius:2px"
CONTEXT = "color:#9e9e9e"


def render_pieces(pieces) -> str:
    spans = "".join(f"<span style='{TRAINED if trained else CONTEXT}'>{esc(text)}</span>" for text, trained in pieces)
    return f"<pre style='white-space:pre-wrap;margin:2px 0 8px;font-size:90%'>{spans}</pre>"


class TrainedTokens(Snapshotted, w.VBox):
    def __init__(self, report: LabelReport, *, origins: Origins | None = None):
        self.report = report
        where = origins.where if origins is not None else (lambda n: f"line {n}")
        said = report.summary(where).splitlines()
        level = "ok" if report.ok else "error"
        head = badge(level, said[0]) + "".join(f"<div>{esc(line.strip())}</div>" for line in said[1:])
        legend = (
            f"<div><span style='{TRAINED}'>highlighted</span>: trained on; <span style='{CONTEXT}'>grey</span>: "
            "context only (system and user turns, replies with weight 0, the template's own tokens)</div>"
        )
        shown = "".join(
            f"<div><b>{esc(where(e.line))}</b>: {e.trained_tokens} of {e.total_tokens} tokens train"
            f"{render_pieces(e.pieces)}</div>"
            for e in report.examples
            if e.pieces
        )
        self.html = w.HTML(head + legend + shown)
        super().__init__([self.html])
