"""ValidationTable: a report's findings by line, filtered by severity and code, a page at a time.

from ftwidgets.data.validate import validate_file
from ftwidgets.widgets import ValidationTable
ValidationTable(validate_file("data/samples/broken.jsonl"))
"""

from __future__ import annotations

import json
from pathlib import Path

import ipywidgets as w

from ..data.findings import Finding, Report
from ..data.origins import Origins
from ..runtime.safe_files import iter_raw_lines
from ._html import esc, page_of, table
from .snapshot import Snapshotted

ALL = "all"


class ValidationTable(Snapshotted, w.VBox):
    """Findings per line with their fix hints; a 100k-example report renders one page at a time."""

    def __init__(self, report: Report, *, page_size: int = 20, origins: Origins | None = None):
        self.report, self.origins = report, origins
        self.page_size = page_size
        self._findings = report.sorted_findings()
        counts = report.summary()
        whose = (
            f"Places are those of <b>{esc(origins.source)}</b>, the file you brought."
            if origins is not None
            else f"Lines are those of <b>{esc(Path(report.path).name)}</b>."
        )
        self.summary = w.HTML(
            f"<div>{whose}</div><b>{'VALID' if report.valid else 'INVALID'}</b>: {report.examples:,} examples, "
            f"{report.error_count:,} errors, {report.warning_count:,} warnings"
            + (
                table(
                    ["severity", "code", "count", "what to do"],
                    [(r["severity"], r["code"], r["count"], r["hint"]) for r in counts],
                )
                if counts
                else "<p><i>No findings: every example passed every check.</i></p>"
            )
        )
        self.severity = w.ToggleButtons(options=[ALL, "error", "warning"], value=ALL, description="Show")
        self.code = w.Dropdown(options=[ALL] + sorted(report.counts), value=ALL, description="Code")
        self.page = w.BoundedIntText(value=1, min=1, max=1, description="Page")
        self.page_info = w.Label()
        self.table = w.HTML()
        self.line = w.BoundedIntText(value=0, min=0, max=10**9, description="Line")
        self.example = w.HTML()
        for control in (self.severity, self.code):
            control.observe(self._reset_page, names="value")
        self.page.observe(lambda _: self._render(), names="value")
        self.line.observe(lambda change: self.show_line(change["new"]), names="value")
        super().__init__(
            [
                self.summary,
                w.HBox([self.severity, self.code]),
                w.HBox([self.page, self.page_info]),
                self.table,
                w.HTML("<b>Jump to the example</b> on line:"),
                self.line,
                self.example,
            ]
        )
        self._render()

    @property
    def rows(self) -> list[Finding]:
        """The findings that pass the current filters (all pages)."""
        return [
            f
            for f in self._findings
            if (self.severity.value == ALL or f.severity == self.severity.value)
            and (self.code.value == ALL or f.code == self.code.value)
        ]

    def _reset_page(self, _=None) -> None:
        if self.page.value != 1:
            self.page.value = 1  # triggers _render
        else:
            self._render()

    def _render(self) -> None:
        rows = self.rows
        shown, pages = page_of(rows, self.page, self.page_size)
        self.page_info.value = f"of {pages} ({len(rows):,} findings)"
        if not rows:
            self.table.value = "<i>No findings" + (" match these filters.</i>" if self._findings else ".</i>")
            return
        place = self.origins.short if self.origins is not None else (lambda n: n if n is not None else "file")
        self.table.value = table(
            [
                "line" if self.origins is None or self.origins.unit == "line" else "record",
                "message #",
                "severity",
                "code",
                "problem",
                "fix",
            ],
            [(place(f.line), f.message_index, f.severity, f.code, f.message, f.hint) for f in shown],
        )

    def show_line(self, line: int) -> None:
        """Show the example on a line of the validated file (with origins: at that place of the learner's file),
        pretty-printed."""
        if not line:
            self.example.value = ""
            return
        if self.origins is not None:
            place, line = line, self.origins.line_of(line)
            if line is None:
                self.example.value = f"<i>{place} is not an example of {esc(self.origins.source)} that step 1 kept</i>"
                return
        for raw in iter_raw_lines(self.report.path):
            if raw.line == line:
                text = raw.data.decode("utf-8", errors="replace")
                try:
                    text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
                except ValueError:
                    pass
                self.example.value = f"<pre>{esc(text[:5000])}</pre>"
                return
            if raw.line > line:
                break
        self.example.value = f"<i>line {line} is blank or past the end of the file</i>"
