"""SplitView: counts per split, group integrity and the leakage report, with a button that fixes leaks.

SplitView(split_examples(examples, seed=42))
"""

from __future__ import annotations

import ipywidgets as w

from ..data.split import SplitResult, fix_leaks
from ._html import badge, table
from .snapshot import Snapshotted


class SplitView(Snapshotted, w.VBox):
    def __init__(self, result: SplitResult):
        self.result = result
        self.counts = w.HTML()
        self.leaks = w.HTML()
        self.fix = w.Button(description="Move leaking examples to train", icon="wrench", layout=w.Layout(width="auto"))
        self.fix.on_click(lambda _: self.apply_fix())
        super().__init__([self.counts, self.leaks, self.fix])
        self._render()

    def apply_fix(self) -> SplitResult:
        self.result = fix_leaks(self.result)
        self._render()
        return self.result

    def _render(self) -> None:
        r = self.result
        total = sum(r.counts.values()) or 1
        self.counts.value = (
            table(["split", "examples", "share"], [(k, f"{v:,}", f"{v / total:.0%}") for k, v in r.counts.items()])
            + f"<div>{r.groups:,} groups (examples sharing a group, or copies of each other, stay in one split); "
            f"seed {r.seed}.</div>"
        )
        if r.leaks:
            self.leaks.value = badge("warning", f"{len(r.leaks)} example(s) appear in two splits:") + table(
                ["kind", "in", "index", "also in", "index", "similarity"],
                [(x.kind, x.a_split, x.a_index, x.b_split, x.b_index, x.similarity) for x in r.leaks[:50]],
            )
        else:
            self.leaks.value = badge("ok", "No leakage: no example of validation or test copies one of another split.")
        self.fix.disabled = not r.leaks
