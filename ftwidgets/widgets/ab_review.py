"""ABReview: blind side-by-side review of two models' answers, one test prompt at a time.

The two answers appear as A and B in a random but fixed order per reviewer and
item, with no model names. Pick A, B, tie or both bad (buttons, or keys 1-4 after
clicking the keyboard strip), optionally score each answer 1-5, add tags and a
comment; skip (s) and undo (u) too. Each action is written to disk before the next
item shows, so a dead kernel loses nothing and reopening resumes.

    store = ReviewStore("data/work/06_review/reviews.jsonl")
    ABReview(review_items(evaluation), store, reviewer="ana")
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as w

from ..review.review_store import ReviewItem, ReviewStore, blind_order, people, summarize
from ._html import badge, esc
from .keyboard import KeyboardShortcuts
from .snapshot import Snapshotted

DEFAULT_TAGS = ["wrong answer", "wrong format", "incomplete", "verbose", "hallucination", "unsafe", "great"]
SCORES = [("-", 0), ("1", 1), ("2", 2), ("3", 3), ("4", 4), ("5", 5)]
KEYS = {"1": "A", "2": "B", "3": "tie", "4": "both_bad"}
KEY_HELP = "1 = A, 2 = B, 3 = tie, 4 = both bad, s = skip, u = undo"


def _answer_box(title: str, text: str) -> str:
    return (
        f"<div style='border:1px solid #bbb;border-radius:4px;padding:6px;min-height:4em'>"
        f"<b>{esc(title)}</b><pre style='white-space:pre-wrap;margin:4px 0 0'>{esc(text)}</pre></div>"
    )


class ABReview(Snapshotted, w.VBox):
    def __init__(
        self,
        items: Sequence[ReviewItem],
        store: ReviewStore,
        *,
        reviewer: str = "",
        labels: tuple[str, str] = ("base", "fine_tuned"),
        tags: Sequence[str] = DEFAULT_TAGS,
        seed: int = 0,
    ):
        self.items, self.store, self.labels, self.seed = list(items), store, labels, seed
        self.current: ReviewItem | None = None
        self.order: tuple[str, str] | None = None
        self.reviewer = w.Text(value=reviewer, description="Reviewer", placeholder="your name")
        self.progress = w.IntProgress(min=0, max=max(1, len(self.items)), description="Done")
        self.progress_text = w.Label()
        self.prompt = w.HTML()
        self.left, self.right = w.HTML(layout=w.Layout(width="50%")), w.HTML(layout=w.Layout(width="50%"))
        self.score_a = w.Dropdown(options=SCORES, value=0, description="Score A", layout=w.Layout(width="160px"))
        self.score_b = w.Dropdown(options=SCORES, value=0, description="Score B", layout=w.Layout(width="160px"))
        self.tags = w.TagsInput(value=[], allowed_tags=list(tags), allow_duplicates=False)
        self.comment = w.Textarea(placeholder="comment (optional)", layout=w.Layout(width="100%", height="3em"))
        self.buttons = {
            "A": w.Button(description="A is better (1)", button_style="primary"),
            "B": w.Button(description="B is better (2)", button_style="primary"),
            "tie": w.Button(description="Tie (3)"),
            "both_bad": w.Button(description="Both bad (4)", button_style="warning"),
        }
        for choice, button in self.buttons.items():
            button.on_click(lambda _b, c=choice: self.choose(c))
        self.skip_button = w.Button(description="Skip (s)", icon="forward")
        self.undo_button = w.Button(description="Undo (u)", icon="undo")
        self.skip_button.on_click(lambda _: self.skip())
        self.undo_button.on_click(lambda _: self.undo())
        self.keyboard = KeyboardShortcuts(
            [*KEYS, "s", "u"],
            label=f"Keyboard off (a key now goes to the notebook): click here, then {KEY_HELP}",
            active_label=f"Keyboard on (this strip has the focus): {KEY_HELP}",
        )
        self.keyboard.on_key(self._key)
        self.message = w.HTML()
        self.summary = w.HTML()
        self._listeners: list[Callable[[], Any]] = []
        self.reviewer.observe(lambda _: self._advance(), names="value")
        super().__init__(
            [
                w.HBox([self.reviewer, self.progress, self.progress_text]),
                self.prompt,
                w.HBox([self.left, self.right]),
                w.HBox([self.score_a, self.score_b, w.Label("Tags"), self.tags]),
                w.HTML(f"<small>Tags you can add (type, or pick as you type): {esc(', '.join(tags))}</small>"),
                self.comment,
                w.HBox(list(self.buttons.values()) + [self.skip_button, self.undo_button]),
                self.keyboard,
                self.message,
                self.summary,
            ]
        )
        self._advance()

    # --- actions ----------------------------------------------------------------------
    def choose(self, choice: str) -> dict | None:
        """Record a decision on the item shown (A, B, tie or both_bad) and show the next one."""
        if self.current is None or self.order is None:
            self.message.value = badge("info", "Nothing left to review.")
            return None
        scores = {lab: s.value for lab, s in zip(self.order, (self.score_a, self.score_b)) if s.value}
        try:
            record = self.store.submit(
                self.reviewer.value,
                self.current.id,
                *self.order,
                choice,
                scores=scores,
                tags=self.tags.value,
                comment=self.comment.value,
            )
        except ValueError as exc:
            self.message.value = badge("warning", str(exc))
            return None
        self.message.value = badge("ok", f"Saved ({choice}).")
        self._advance()
        self._changed()
        return record

    def on_decision(self, callback: Callable[[], Any]) -> None:
        """Call `callback()` after every decision, skip and undo (a summary view refreshes itself with it)."""
        self._listeners.append(callback)

    def _changed(self) -> None:
        for callback in self._listeners:
            callback()

    def skip(self) -> None:
        if self.current is not None and self.reviewer.value.strip():
            self.store.skip(self.reviewer.value, self.current.id)
            self.message.value = badge("info", "Skipped.")
            self._advance()
            self._changed()
        elif not self.reviewer.value.strip():
            self.message.value = badge("warning", "Enter a reviewer name first.")

    def undo(self) -> None:
        undone = self.store.undo(self.reviewer.value) if self.reviewer.value.strip() else None
        self.message.value = badge("info", "Undone: that item is shown again." if undone else "Nothing to undo.")
        if undone:
            self._show(next(it for it in self.items if it.id == undone["item"]))
            self._changed()

    def _key(self, key: str) -> None:
        if key in KEYS:
            self.choose(KEYS[key])
        elif key == "s":
            self.skip()
        elif key == "u":
            self.undo()

    # --- view -------------------------------------------------------------------------
    def _advance(self) -> None:
        name = self.reviewer.value.strip()
        self._show(self.store.next_item(name, self.items) if name else (self.items[0] if self.items else None))

    def _show(self, item: ReviewItem | None) -> None:
        name = self.reviewer.value.strip()
        done = len(self.store.handled(name) & {it.id for it in self.items}) if name else 0
        self.progress.value = done
        self.progress_text.value = f"{done} of {len(self.items)} reviewed" + (
            "" if name else " (enter your name to start)"
        )
        self.current = item
        self.score_a.value = self.score_b.value = 0
        self.tags.value, self.comment.value = [], ""
        for b in (*self.buttons.values(), self.skip_button):
            b.disabled = item is None or not name
        if item is None:
            self.order = None
            self.prompt.value = "<b>All items reviewed.</b> Thank you!" if name else ""
            self.left.value = self.right.value = ""
        else:
            self.order = blind_order(item.id, name, self.labels, seed=self.seed)
            system = [m.get("content") for m in item.messages if m.get("role") == "system"]
            self.prompt.value = (
                f"<div><i>{esc(system[0])}</i></div>" if system else ""
            ) + f"<div><b>Prompt:</b> {esc(item.prompt)}</div>"
            self.left.value = _answer_box("A", item.answers[self.order[0]])
            self.right.value = _answer_box("B", item.answers[self.order[1]])
        mine = summarize(
            self.store, self.labels, reviewers=people(self.store)
        )  # persons only, never the rule: reviewer
        self.summary.value = f"<small>{esc(mine.sentence())}</small>"
