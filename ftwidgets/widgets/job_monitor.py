"""JobMonitor: a fine-tuning job's status, progress, live loss curves, overfitting verdict and checkpoints.

Works with any backend through the `openai` client. `refresh()` pulls the job once;
`watch()` refreshes in a background thread until the job ends; `show(job, events,
checkpoints)` is the pure view the others feed, so it is testable without a server.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any

import ipywidgets as w

from ..curves import LossCurve, loss_curve, overfitting, pick_checkpoint
from ..early_stopping import stop_from_events
from ..runtime.job_states import FINAL
from . import charts
from ._html import badge, esc, table
from .progress import left_text
from .snapshot import Snapshotted, rewrite_snapshots


def _as_dict(obj: Any) -> dict:
    return obj.model_dump() if hasattr(obj, "model_dump") else dict(obj)


def progress_line(
    state: str, step: int | None, total: int, estimated_finish: int | None, now: float | None = None
) -> str:
    """ "step 12 of 75, about 3 min left": where a job is, and when it should end (the backend's estimate)."""
    if step is None:
        return "waiting for the first step" if state not in FINAL else ""
    line = f"step {step} of {total}"
    if state not in FINAL and estimated_finish:
        line += left_text(max(0, estimated_finish - (now or time.time())))
    return line


class JobMonitor(Snapshotted, w.VBox):
    def __init__(self, client=None, job_id: str | None = None):
        self.client, self.job_id = client, job_id
        self._events: list = []  # every event read so far, newest first
        self.status = w.HTML()
        self.progress = w.IntProgress(value=0, min=0, max=1, description="Steps")
        self.progress_text = w.Label()
        self.curve = LossCurve()
        self.stop = None
        # the curves, drawn again whenever they change (`charts.draw`: safe from the watching thread)
        self.plot = w.Output(layout=w.Layout(min_height="300px"))
        self.figure = self._figure()
        charts.draw(self.plot, self.figure)
        self.verdict = w.HTML()
        self.checkpoints = w.HTML()
        self.cancel = w.Button(description="Cancel", button_style="danger", icon="stop")
        self.cancel.on_click(lambda _: self._cancel())
        self._thread: threading.Thread | None = None
        super().__init__(
            [
                self.status,
                w.HBox([self.progress, self.progress_text]),
                self.plot,
                self.verdict,
                self.checkpoints,
                self.cancel,
            ]
        )

    # --- the view ---------------------------------------------------------------------
    def show(self, job: Mapping, events: Iterable[Mapping], checkpoints: Iterable[Mapping] = ()) -> None:
        job = _as_dict(job)
        events = [_as_dict(e) for e in events]
        self.curve = curve = loss_curve(events)
        self.stop = stop_from_events(events)
        state = job.get("status", "?")
        err = job.get("error") or {}
        text = f"<b>{esc(job.get('id'))}</b>: {esc(state)}"
        if job.get("fine_tuned_model"):
            text += f" &rarr; <code>{esc(job['fine_tuned_model'])}</code>"
        if err:
            text += badge("error", f"{err.get('code')}: {err.get('message')}")
        self.status.value = text
        if curve.steps:
            self.progress.max = max(1, curve.total_steps or curve.steps[-1])
            self.progress.value = curve.steps[-1]
        if state == "succeeded":
            self.progress.value = self.progress.max
        self.progress_text.value = progress_line(
            state, self.progress.value if curve.steps else None, self.progress.max, job.get("estimated_finish")
        )
        self.cancel.disabled = state in FINAL
        self._draw()
        ckpts = [_as_dict(c) for c in checkpoints]
        best = None
        if state in ("cancelled", "failed"):  # an unfinished run: say what happened, judge nothing
            where = (
                f" at step {self.progress.value} of {self.progress.max}" if curve.steps else " before its first step"
            )
            kept = f"{len(ckpts)} checkpoint(s) exist" if ckpts else "no checkpoint exists"
            self.verdict.value = badge(
                "info", f"The job was {state}{where}: {kept}. An unfinished run gets no overfitting verdict."
            )
        else:
            v = overfitting(curve.steps, curve.train_loss, curve.valid_loss)
            self.verdict.value = badge("warning" if v.overfitting else "ok", v.message) + self._stop_note()
            best = pick_checkpoint(ckpts, v) if ckpts else None
            if self.stop is not None:  # early stopping chose the model: the table marks that one, as the messages say
                best = next((c for c in ckpts if c["step_number"] == self.stop.kept_step), best)
        self.checkpoints.value = (
            table(
                ["checkpoint model", "step", "train loss", "full valid loss", ""],
                [
                    (
                        c["fine_tuned_model_checkpoint"],
                        c["step_number"],
                        (c.get("metrics") or {}).get("train_loss"),
                        (c.get("metrics") or {}).get("full_valid_loss"),
                        "<- keep" if c is best else "",
                    )
                    for c in ckpts
                ],
            )
            if ckpts
            else ""
        )
        if state in FINAL:  # the job's last word: what an exported notebook shows, here or in the view holding it
            rewrite_snapshots()

    def _stop_note(self) -> str:
        s = self.stop
        if s is None:
            return ""
        where = (
            f"stopped at step {s.stopped_at} of {s.total_steps} planned, "
            if s.stopped_at is not None
            else "ran every planned step; "
        )
        return badge(
            "info",
            f"Early stopping {where}and the fine-tuned model is the one from step {s.kept_step}, "
            "where the validation loss was lowest.",
        )

    def _figure(self) -> dict:
        """Training loss, validation loss where it was measured, and a line at the kept model."""
        c = self.curve
        valid = [(s, v) for s, v in zip(c.steps, c.valid_loss) if v is not None]
        kept = self.stop.kept_step if self.stop is not None else None
        data = [
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": "training loss",
                "x": list(c.steps),
                "y": list(c.train_loss),
            },
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": "validation loss",
                "x": [s for s, _ in valid],
                "y": [v for _, v in valid],
                "visible": bool(valid),
            },
        ]
        line = dict(type="line", x0=kept, x1=kept, yref="paper", y0=0, y1=1, line=dict(dash="dash", color="green"))
        label = dict(x=kept, y=1, yref="paper", text="kept model", showarrow=False, xanchor="left")
        return charts.figure(
            data,
            height=300,
            margin=dict(l=40, r=10, t=30, b=30),
            xaxis=charts.axis("step"),
            yaxis=charts.axis("loss"),
            shapes=[line] if kept is not None else [],
            annotations=[label] if kept is not None else [],
        )

    def _draw(self) -> None:
        """The curves drawn again, only when they changed (a refresh every 2 s mostly brings nothing new)."""
        fig = self._figure()
        if fig != self.figure:
            self.figure = fig
            charts.draw(self.plot, fig)

    # --- talking to the backend --------------------------------------------------------------
    def refresh(self) -> str:
        """Fetch the job, its events and checkpoints once; returns the status."""
        job = self.client.fine_tuning.jobs.retrieve(self.job_id)
        events = self._new_events() + self._events
        self._events = events
        ckpts = self.client.fine_tuning.jobs.checkpoints.list(self.job_id).data if job.status in FINAL else []
        self.show(job, events, ckpts)
        return job.status

    def _new_events(self) -> list:
        """The events since the last refresh, newest first: pages are read until a known event appears, so a
        refresh costs one page however long the job has run."""
        known = self._events[0].id if self._events else None
        new, after = [], None
        while True:
            page = self.client.fine_tuning.jobs.list_events(
                self.job_id, limit=100, **({"after": after} if after else {})
            )
            for event in page.data:
                if event.id == known:
                    return new
                new.append(event)
            if not page.has_more or not page.data:
                return new
            after = page.data[-1].id

    def watch(self, every: float = 2.0, timeout: float | None = None) -> None:
        """Refresh in the background until the job ends (returns at once)."""

        def loop() -> None:
            deadline = None if timeout is None else time.monotonic() + timeout
            while self.refresh() not in FINAL and (deadline is None or time.monotonic() < deadline):
                time.sleep(every)

        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()

    def wait(self, every: float = 2.0, timeout: float = 3600) -> str:
        """Refresh in the foreground until the job ends (for headless runs); returns the final status.

        If `watch()` already refreshes in the background, wait for that instead of polling twice.
        """
        deadline = time.monotonic() + timeout
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout)
        status = self.refresh()
        while status not in FINAL and time.monotonic() < deadline:
            time.sleep(every)
            status = self.refresh()
        return status

    def _cancel(self) -> None:
        if self.client is not None and self.job_id:
            self.client.fine_tuning.jobs.cancel(self.job_id)
            self.refresh()
