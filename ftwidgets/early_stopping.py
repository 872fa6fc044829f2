"""Early stopping: the seed's "never 50 epochs" made automatic, with the best checkpoint kept.

One definition of the rule for every place that applies it: the engine's trainer stops
a job with it, the job monitor reads where it stopped from the job's events, and a notebook on
OpenAI (which has no early stopping) uses it to choose among the job's checkpoints.

A job asks for it with ``metadata={"early_stopping": "true"}`` (optional
``"early_stopping_patience": "<evaluations>"``), two of `job_options`' table.

The kept model is the one with the lowest validation loss, however small its lead; the patience counts
evaluations since the last *significant* gain (1% of perplexity), so noise never keeps a job going.

>>> rule = EarlyStopping(patience=2)
>>> [rule.update(step, loss) for step, loss in [(10, 1.0), (20, 0.8), (30, 0.81), (40, 0.795), (50, 0.85)]]
[True, True, False, True, False]
>>> rule.stopped, rule.best_step
(True, 40)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_PATIENCE = 5  # evaluations without improvement; a job validates about 30 times
MAX_PATIENCE = 1000
# A new best must lower the validation perplexity by at least 1%, i.e. the loss (nats per token) by ln 1.01:
# noise alone never resets the wait, and neither do the tiny relative gains of a loss already near zero
# (0.0016 -> 0.0009 halves the loss but changes the perplexity by 0.07%).
MIN_IMPROVEMENT = math.log(1.01)


@dataclass
class EarlyStopping:
    """Watches validation losses; `stopped` once `patience` evaluations in a row brought no significant gain.
    `best_step` is always the evaluation with the lowest loss: the model to keep."""

    patience: int = DEFAULT_PATIENCE
    min_improvement: float = MIN_IMPROVEMENT
    best_loss: float | None = None
    best_step: int | None = None
    waited: int = 0
    gain_loss: float | None = None  # the loss at the last significant gain, which the patience counts from

    def update(self, step: int, loss: float) -> bool:
        """Record one evaluation; True when it is the lowest loss so far (the model to keep)."""
        if self.gain_loss is None or loss < self.gain_loss - self.min_improvement:
            self.gain_loss, self.waited = loss, 0
        else:
            self.waited += 1
        if self.best_loss is None or loss < self.best_loss:
            self.best_loss, self.best_step = loss, step
            return True
        return False

    @property
    def stopped(self) -> bool:
        return self.waited >= self.patience


def stop_message(step: int, total_steps: int, rule: EarlyStopping) -> str:
    """The event a stopped job reports, in plain words."""
    return (
        f"Stopped early at step {step} of {total_steps} planned: the validation loss has not improved by 1% of "
        f"perplexity for {rule.patience} evaluations. Kept the model from step {rule.best_step} "
        f"(validation loss {rule.best_loss:.4f}, the lowest)."
    )


def stopped_early(step: int, total_steps: int, rule: EarlyStopping) -> bool:
    """Whether a job really stopped before its planned end (a rule that runs out of patience at the last step did
    not stop anything)."""
    return rule.stopped and step < total_steps


@dataclass(frozen=True)
class StopRecord:
    """What a job's events say early stopping did: where it stopped (None if it ran every step) and the step it kept."""

    kept_step: int
    stopped_at: int | None = None
    total_steps: int | None = None


def stop_from_events(events) -> StopRecord | None:
    """The early-stopping record in a job's events (``openai`` event objects or dicts), or None."""
    kept = stopped = total = None
    for e in events:
        data = e.get("data") if isinstance(e, Mapping) else getattr(e, "data", None)
        if isinstance(data, Mapping) and "kept_step" in data:
            kept = int(data["kept_step"])
            if "stopped_at" in data:
                stopped, total = int(data["stopped_at"]), int(data["total_steps"])
    return StopRecord(kept, stopped, total) if kept is not None else None
