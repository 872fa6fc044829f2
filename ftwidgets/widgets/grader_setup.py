"""Step 2's definition of success for a learner's own data: the graders proposed from their examples, previewed on
their own reference answers, changed or added to (a rule, or a few lines of Python), and saved for every later step.

A thin view over `ftwidgets.graders`: the proposal, the checks, the preview and the file are the core's. The
proposal is saved as it stands when the widget appears, so a headless run goes on with it; every press of **Check
and save** checks the list again (a bad field is named), previews it, and saves it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import ipywidgets as w

from ..graders import (
    GraderError,
    Grading,
    check_graders,
    graders_for,
    preview,
    read_examples,
    save_graders_for,
)
from ._html import badge, esc, table
from .snapshot import Snapshotted

PYTHON_STARTER = '''def grade(sample, item):
    """1.0 when the answer is right, 0.0 when not (any number between for partly right)."""
    answer = sample["output_text"]
    expected = item["reference_answer"]
    return float(answer.strip() == expected.strip())
'''


def _checks(grader: dict[str, Any]) -> str:
    kind = grader["type"]
    if kind in ("string_check", "text_similarity"):
        how = grader.get("operation") or grader.get("evaluation_metric")
        return f"{grader['input']} {how} {grader['reference']}"
    if kind == "python":
        doc = [line.strip().strip('"') for line in grader["source"].splitlines() if line.strip().startswith('"""')]
        return doc[0] if doc else "python: grade(sample, item)"
    if kind == "multi":
        return grader["calculate_output"]
    return f"{kind} with {grader.get('model')}"


class GraderSetup(Snapshotted, w.VBox):
    def __init__(self, dataset: str | os.PathLike, saved: str | os.PathLike):
        self.dataset, self.saved = Path(dataset), Path(saved)
        self.read = read_examples(self.dataset)
        graders, kept = graders_for(self.dataset, self.saved)
        self.graders: list[dict[str, Any]] = [dict(g) for g in graders]
        self.previews = []
        self.editor = w.Textarea(layout=w.Layout(width="100%", height="14em"))
        self.message, self.table = w.HTML(), w.HTML()
        save = w.Button(description="Check and save", button_style="primary")
        save.on_click(lambda _: self.apply(self.editor.value))
        self.rule_name = w.Text(description="Name", placeholder="e.g. mentions the size")
        self.rule_input = w.Text(description="Answer", value="{{sample.output_text}}")
        self.rule_operation = w.Dropdown(
            description="must",
            options=[("equal", "eq"), ("not equal", "ne"), ("contain", "like"), ("contain, any case", "ilike")],
        )
        self.rule_reference = w.Text(description="this", value="{{item.reference_answer}}")
        add_rule = w.Button(description="Add rule")
        add_rule.on_click(lambda _: self.add_rule())
        self.python_name = w.Text(description="Name", placeholder="e.g. total is right")
        self.python_source = w.Textarea(value=PYTHON_STARTER, layout=w.Layout(width="100%", height="9em"))
        add_python = w.Button(description="Add Python grader")
        add_python.on_click(lambda _: self.add_python())
        adding = w.Accordion(
            [
                w.VBox([self.rule_name, self.rule_input, self.rule_operation, self.rule_reference, add_rule]),
                w.VBox([self.python_name, self.python_source, add_python]),
            ],
            titles=("Add a rule", "Add a few lines of Python"),
        )
        editing = w.Accordion([w.VBox([self.editor, save])], titles=("Change the graders (OpenAI's grader JSON)",))
        self._how = "kept from your last save" if kept else "proposed from your reference answers"
        self.intro = w.HTML()
        super().__init__([self.intro, self.table, self.message, adding, editing])
        self.apply(json.dumps(self.graders, indent=2))

    def use(self, dataset: str | os.PathLike) -> bool:
        """The same graders on another file of the same data (step 2's cleaned one): previewed on its references and
        saved for it, the learner's edits kept."""
        self.dataset = Path(dataset)
        self.read = read_examples(self.dataset)
        return self.apply(json.dumps(self.graders))

    @property
    def ok(self) -> bool:
        """Every grader gives every reference answer full marks."""
        return bool(self.previews) and all(p.ok for p in self.previews)

    def apply(self, text: str) -> bool:
        """Check the graders written in `text`, preview them on the references and save them (what the button
        does); a bad grader is named and nothing is saved."""
        try:
            graders = check_graders(json.loads(text))
        except ValueError as exc:  # json's and GraderError's
            what = str(exc) if isinstance(exc, GraderError) else f"not JSON: {exc}"
            self.message.value = badge("error", f"Not saved: {what}")
            return False
        with Grading() as grading:
            self.previews = preview(graders, self.read.examples, grading, self.read.lines)
        self.graders = [dict(g) for g in graders]
        self.editor.value = json.dumps(self.graders, indent=2)
        save_graders_for(self.dataset, self.saved, self.graders)
        self.intro.value = f"<b>Graders for {esc(self.dataset.name)}</b>: {self._how}."
        self._show()
        return True

    def _add(self, grader: dict[str, Any]) -> bool:
        return self.apply(json.dumps([*self.graders, grader]))

    def add_rule(self) -> bool:
        return self._add(
            {
                "type": "string_check",
                "name": self.rule_name.value.strip(),
                "input": self.rule_input.value,
                "operation": self.rule_operation.value,
                "reference": self.rule_reference.value,
            }
        )

    def add_python(self) -> bool:
        return self._add({"type": "python", "name": self.python_name.value.strip(), "source": self.python_source.value})

    def _show(self) -> None:
        by_name = {p.name: p for p in self.previews}
        rows = []
        for grader in self.graders:
            p = by_name[grader["name"]]
            lines = ", ".join(map(str, p.failing_lines[:8])) + (" ..." if len(p.failing_lines) > 8 else "")
            rows.append((grader["name"], grader["type"], _checks(grader), f"{p.mean:.0%} of {p.n}", lines or "-"))
        self.table.value = table(
            ["grader", "type", "what it checks", "references passing", "lines of references that fail"],
            rows,
            text_columns=(2,),
        )
        flaws = f" {len(self.read.flaws)} line(s) of the file could not be graded." if self.read.flaws else ""
        bad = [p for p in self.previews if not p.ok]
        if bad:
            names = "; ".join(f"{p.name} fails lines {', '.join(map(str, p.failing_lines[:5]))}" for p in bad)
            problems = " ".join(q for p in bad for q in p.problems[:1])
            self.message.value = badge(
                "error",
                f"Saved, but a grader must give your own reference answers full marks: {names}. {problems} "
                "Change it (or your data) before training." + flaws,
            )
        else:
            self.message.value = badge(
                "ok",
                f"Saved to {self.saved.name}: every reference answer passes all {len(self.graders)} graders. Steps 5, "
                "6 and 8 measure your models with them." + flaws,
            )
