"""ProgressBar: what a learner sees while answers are generated: how many are in, for which model, and the time
left. Its `update(label, done, total)` is `evaluate`'s ``on_progress``; it may be called from the worker threads,
and only sets widget values (nothing is drawn through an ``Output``)."""

from __future__ import annotations

import threading
import time

import ipywidgets as w

from .snapshot import Snapshotted


def left_text(seconds: float) -> str:
    """ ", about 40 s left" (minutes from 90 s on)."""
    return f", about {seconds / 60:.0f} min left" if seconds >= 90 else f", about {seconds:.0f} s left"


def time_left(done: int, total: int, elapsed: float) -> str:
    """The time left from the pace so far, `elapsed` counted from when the work began (nothing before the first
    answer)."""
    if done <= 0 or done >= total:
        return ""
    return left_text(elapsed / done * (total - done))


class ProgressBar(Snapshotted, w.HBox):
    """Each label's pace is counted from when its work began: the bar's creation for the first, the end of the
    previous label's for the next. (Counted from its first answer, a batch of 32 answers arriving together once gave
    "about 1 s left" with minutes to go.)"""

    def __init__(self, description: str = "Answers"):
        self.bar = w.IntProgress(value=0, min=0, max=1, description=description)
        self.text = w.Label("waiting for the first answer")
        self._lock = threading.Lock()
        self._started: dict[str, float] = {}
        self._free_since = time.monotonic()  # when the work of the next new label began
        super().__init__([self.bar, self.text])

    def update(self, label: str, done: int, total: int) -> None:
        with self._lock:
            started = self._started.setdefault(label, self._free_since)
            if done >= total:
                self._free_since = time.monotonic()
            self.bar.max, self.bar.value = max(1, total), done
            self.text.value = (
                f"{label}: {done} of {total}" + time_left(done, total, time.monotonic() - started)
                if done < total
                else f"{label}: all {total} answers in"
            )
