"""Step 2's way on: one button that drops the examples with errors, and the exact duplicates, into a new file.

A thin view over `ftwidgets.data.cleaning` (through the callable it is given, in the notebook
`workbook.drop_flagged_examples`): it says what would go, does it on a click, and shows what went and the new
file's own validation, so the learner never edits the file outside the notebook.
"""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as w

from ..data.cleaning import Cleaned
from ..data.findings import Report
from ..data.origins import Origins
from ..data.validate import validate_file
from ._html import badge, esc
from .snapshot import Snapshotted


class DropFlagged(Snapshotted, w.VBox):
    def __init__(self, report: Report, on_drop: Callable[[Report], Cleaned], *, origins: Origins | None = None):
        self.report, self._on_drop, self.origins = report, on_drop, origins
        yours = origins.source if origins is not None else "your file"
        self.cleaned: Cleaned | None = None
        self.cleaned_report: Report | None = None
        errors = report.examples - report.usable_examples  # every line with an error, unreadable ones included
        copies = int(report.per_example["exact_duplicate"].sum())
        self.flagged = errors + copies
        self._what = f"{errors} with errors and {copies} duplicates"
        self.button = w.Button(
            description=f"Drop {self._what}",
            button_style="warning",
            layout=w.Layout(width="auto"),
            disabled=self.flagged == 0,
            tooltip="write the other examples into a new file; yours stays as it is",
        )
        self.message = w.HTML(
            badge("ok", "Nothing to drop: no example has an error or repeats another exactly.")
            if self.flagged == 0
            else badge(
                "warning",
                f"{errors} example(s) have errors and {copies} repeat an earlier one "
                f"exactly. Drop them into a new file ({yours} is never changed), or fix "
                f"them in {yours} and run step 1 again.",
            )
        )
        self.button.on_click(lambda _: self.drop())
        super().__init__([self.message, self.button])

    def drop(self) -> Cleaned:
        """Make the cleaned file and validate it again (what the button does)."""
        self.cleaned = self._on_drop(self.report)
        self.cleaned_report = validate_file(self.cleaned.path)
        verdict = (
            badge("ok", f"{self.cleaned.path.name} passes every rule: the next steps use it.")
            if self.cleaned_report.valid
            else badge(
                "error",
                f"{self.cleaned.path.name} still has {self.cleaned_report.error_count} error(s): "
                "see its table below the checkpoint.",
            )
        )
        lines = esc(self.cleaned.summary(origins=self.origins)).replace("\n", "<br>")
        self.message.value = f"<div>{lines}</div>" + verdict
        self.button.description, self.button.disabled = f"Dropped {self._what}", True  # done: says so, not "Drop"
        return self.cleaned
