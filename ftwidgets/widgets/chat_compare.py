"""ChatCompare: the playground. Type a prompt; the base and the fine-tuned model (and any checkpoint) answer side by
side, streamed, through the same client as every other step.

    compare = ChatCompare(client, models=[job.model, job.fine_tuned_model])
    compare.send("What is 12 + 30?")      # returns when every answer is in
    compare.answers                       # {model: text}

"Add to review" puts the prompt and the two answers into step 6's queue (`review.queue_for_review`), where a
person judges them blind, apart from the test split. Each answer streams on a thread of its own, which only sets
widget values (never draws through an ``Output``), so the notebook stays responsive.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import ipywidgets as w

from ..review.review_store import queue_for_review
from ._html import badge, esc
from .snapshot import Snapshotted


def _box(title: str, text: str, note: str = "") -> str:
    return (
        f"<div style='border:1px solid #bbb;border-radius:4px;padding:6px;min-height:6em'><b>{esc(title)}</b>"
        f"<pre style='white-space:pre-wrap;margin:4px 0 0'>{esc(text)}</pre>"
        f"<div style='color:#777;font-size:90%'>{esc(note)}</div></div>"
    )


class ChatCompare(Snapshotted, w.VBox):
    def __init__(
        self,
        client,
        models: Sequence[str],
        *,
        labels: Sequence[str] | None = None,
        system: str | None = None,
        review_queue: str | Path | None = None,
        temperature: float = 0.0,
        max_tokens: int = 200,
    ):
        self.client, self.models = client, list(models)
        self.labels = list(labels) if labels else self.models
        self.system, self.review_queue = system, Path(review_queue) if review_queue else None
        self.errors: dict[str, str] = {}
        self.texts: list[str | None] = [None] * len(self.models)  # each box's answer to the last prompt
        self.messages: list[dict[str, Any]] = []
        self.prompt = w.Textarea(
            placeholder="Type a prompt, then press Send", layout=w.Layout(width="100%", height="4em")
        )
        label = {"style": {"description_width": "7em"}}  # wide enough for the whole word
        self.temperature = w.FloatSlider(value=temperature, min=0, max=2, step=0.1, description="Temperature", **label)
        self.max_tokens = w.IntSlider(value=max_tokens, min=8, max=1024, step=8, description="Max tokens", **label)
        self.send_button = w.Button(description="Send", button_style="primary", icon="paper-plane")
        self.review_button = w.Button(
            description="Add to review",
            disabled=True,
            icon="plus",
            tooltip="step 6 shows this prompt and the two answers blind, apart from the test set",
        )
        self.boxes = [
            w.HTML(_box(label, ""), layout=w.Layout(width=f"{100 / len(self.models):.0f}%")) for label in self.labels
        ]
        self.message = w.HTML()
        self.send_button.on_click(lambda _: threading.Thread(target=self.send, daemon=True).start())
        self.review_button.on_click(lambda _: self.add_to_review())
        super().__init__(
            [
                self.prompt,
                w.HBox([self.temperature, self.max_tokens]),
                w.HBox([self.send_button, self.review_button]),
                w.HBox(self.boxes),
                self.message,
            ]
        )

    @property
    def answers(self) -> dict[str, str]:
        """Each model's answer to the last prompt (a model shown twice answers once)."""
        return {m: t for m, t in zip(self.models, self.texts) if t is not None}

    def send(self, prompt: str | None = None) -> dict[str, str]:
        """Ask every model (at once, each streamed into its box); returns when every answer is in."""
        text = (prompt if prompt is not None else self.prompt.value).strip()
        if not text:
            self.message.value = badge("warning", "Type a prompt first.")
            return {}
        self.prompt.value = text
        self.messages = ([{"role": "system", "content": self.system}] if self.system else []) + [
            {"role": "user", "content": text}
        ]
        self.errors, self.texts = {}, [None] * len(self.models)
        self.send_button.disabled = self.review_button.disabled = True
        self.message.value = ""
        threads = [threading.Thread(target=self._stream, args=(i,), daemon=True) for i in range(len(self.models))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.send_button.disabled = False
        self.review_button.disabled = (
            bool(self.errors) or self.review_queue is None or None in self.texts[:2] or len(self.texts) < 2
        )
        if self.errors:
            self.message.value = "".join(badge("error", f"{m}: {e}") for m, e in self.errors.items())
        return dict(self.answers)

    def _stream(self, i: int) -> None:
        model, label, box = self.models[i], self.labels[i], self.boxes[i]
        started, text = time.monotonic(), ""
        try:
            stream = self.client.chat.completions.create(
                model=model,
                messages=self.messages,
                stream=True,
                temperature=self.temperature.value,
                max_tokens=self.max_tokens.value,
            )
            for chunk in stream:
                piece = chunk.choices[0].delta.content if chunk.choices else None
                if piece:
                    text += piece
                    box.value = _box(label, text, "answering ...")
            self.texts[i] = text
            box.value = _box(label, text, f"{time.monotonic() - started:.1f} s")
        except Exception as exc:  # noqa: BLE001 - a model that cannot answer says so in its box, the others go on
            self.errors[model] = str(exc)
            box.value = _box(label, text, f"no answer: {exc}")

    def add_to_review(self) -> None:
        """Queue the prompt and the first two answers (the base's and the fine-tuned model's) for step 6's blind
        review."""
        if self.review_queue is None or len(self.texts) < 2 or None in self.texts[:2]:
            return
        queue_for_review(self.review_queue, self.messages, {"base": self.texts[0], "fine_tuned": self.texts[1]})
        self.review_button.disabled = True
        self.message.value = badge("ok", "Added: step 6 shows it to you blind, after the test prompts.")
