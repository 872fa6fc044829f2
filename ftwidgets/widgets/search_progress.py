"""Step 4's learning-rate search, job by job: which setting trains now (job k of n) with its own progress, time left
and curve (the job monitor, as for the main job), then the winner. (What a winner at the edge of the searched range
means, `training.search_edge`, the notebook prints, so it shows wherever the notebook is read.)

A thin view: `start` is `training.grid_search`'s ``on_job``; `finish` takes its results.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ipywidgets as w

from ..training import GridResult
from ._html import esc
from .job_monitor import JobMonitor
from .snapshot import Snapshotted


class SearchProgress(Snapshotted, w.VBox):
    def __init__(self, client: Any, total: int):
        self.client, self.total = client, total
        self.heading = w.HTML(f"<b>The search</b>: {total} short jobs, one after the other; the first is starting.")
        self.monitor: JobMonitor | None = None
        super().__init__([self.heading])

    def start(self, k: int, n: int, job_id: str, hyperparameters: dict[str, Any]) -> None:
        """Show job `k` of `n` (its learning rate) and watch it."""
        rate = hyperparameters.get("learning_rate_multiplier")
        self.heading.value = (
            f"<b>The search: job {k} of {n}</b>, learning rate x{esc(rate)} (<code>{esc(job_id)}</code>)"
        )
        self.monitor = JobMonitor(self.client, job_id)
        self.monitor.watch(every=2)
        self.children = (self.heading, self.monitor)

    def finish(self, results: Sequence[GridResult], best: GridResult) -> None:
        """The search is over: the winner."""
        self.heading.value = (
            f"<b>The search: all {len(results)} jobs done</b>; the lowest validation loss: learning rate "
            f"x{esc(best.settings['learning_rate_multiplier'])} ({best.final_valid_loss:.3f})"
        )
