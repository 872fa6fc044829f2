"""Reading loss curves: is the model overfitting, and which checkpoint to keep?

Pure functions over the metrics a job reports (OpenAI's metrics events, or the
engine's step-metrics CSV), so the job monitor widget and a notebook cell agree.

>>> v = overfitting([1, 2, 3, 4, 5, 6], [2.0, 1.5, 1.1, 0.8, 0.5, 0.3], [2.0, 1.6, 1.3, 1.35, 1.5, 1.7])
>>> v.overfitting, v.best_step
(True, 3)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class OverfitVerdict:
    overfitting: bool
    best_step: int | None  # where validation loss was lowest
    rise: float  # relative rise of validation loss since its minimum
    message: str


def _smooth(values: Sequence[float], window: int) -> list[float]:
    out = []
    for i in range(len(values)):
        part = values[max(0, i - window + 1) : i + 1]
        out.append(sum(part) / len(part))
    return out


def overfitting(
    steps: Sequence[int],
    train_loss: Sequence[float],
    valid_loss: Sequence[float | None],
    *,
    window: int = 1,
    min_rise: float = 0.05,
) -> OverfitVerdict:
    """Overfitting = validation loss has risen ``min_rise`` (relative) above its minimum
    while training loss kept falling after that point."""
    points = [(s, t, v) for s, t, v in zip(steps, train_loss, valid_loss) if v is not None]
    if len(points) < 3:
        return OverfitVerdict(False, None, 0.0, "Not enough validation points yet to judge.")
    s_, t_, v_ = zip(*points)
    v_s, t_s = _smooth(v_, window), _smooth(t_, window)
    k = min(range(len(v_s)), key=v_s.__getitem__)
    best = s_[k]
    rise = (v_s[-1] - v_s[k]) / v_s[k] if v_s[k] > 0 else 0.0
    train_fell = t_s[-1] < t_s[k]
    if rise >= min_rise and train_fell and k < len(v_s) - 1:
        return OverfitVerdict(
            True,
            best,
            round(rise, 4),
            f"Overfitting: validation loss is {rise:.0%} above its lowest point (step {best}) while "
            f"training loss kept falling. Keep the checkpoint nearest step {best}, or train fewer epochs.",
        )
    return OverfitVerdict(
        False, best, round(max(rise, 0.0), 4), f"No sign of overfitting: validation loss is lowest at step {best}."
    )


@dataclass(frozen=True)
class LossCurve:
    """A job's loss history by step, read from its metrics events: the validation loss is the one measured
    at the regular cadence (a fixed sample on the engine), the whole-file one where a step has only that."""

    steps: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    valid_loss: list[float | None] = field(default_factory=list)
    total_steps: int | None = None  # as the last event says


def loss_curve(events: Iterable[Any]) -> LossCurve:
    """The loss curve in a job's events (``openai`` event objects or dicts with a ``data`` mapping), by step.

    >>> loss_curve([{"type": "metrics", "data": {"step": 2, "total_steps": 4, "train_loss": 0.9, "valid_loss": 1.0}},
    ...             {"type": "message", "data": None},
    ...             {"type": "metrics", "data": {"step": 1, "train_loss": 1.2, "full_valid_loss": 1.1}}]).valid_loss
    [1.1, 1.0]
    """
    rows = []
    for e in events:
        data = e.get("data") if isinstance(e, Mapping) else getattr(e, "data", None)
        etype = e.get("type") if isinstance(e, Mapping) else getattr(e, "type", None)
        if etype == "metrics" and isinstance(data, Mapping) and "step" in data:
            rows.append(data)
    rows.sort(key=lambda d: d["step"])
    return LossCurve(
        [int(d["step"]) for d in rows],
        [float(d["train_loss"]) for d in rows],
        [d.get("valid_loss", d.get("full_valid_loss")) for d in rows],
        int(rows[-1].get("total_steps", rows[-1]["step"])) if rows else None,
    )


def overfitting_from_events(events: Iterable[Any]) -> OverfitVerdict:
    """The verdict from a job's metrics events (objects or dicts with a ``data`` mapping)."""
    curve = loss_curve(events)
    return overfitting(curve.steps, curve.train_loss, curve.valid_loss)


def pick_checkpoint(checkpoints: Iterable[Mapping], verdict: OverfitVerdict) -> Mapping | None:
    """The checkpoint to keep: lowest full validation loss, else the one nearest the best step."""
    ckpts = list(checkpoints)
    if not ckpts:
        return None
    scored = [c for c in ckpts if (c.get("metrics") or {}).get("full_valid_loss") is not None]
    if scored:
        return min(scored, key=lambda c: c["metrics"]["full_valid_loss"])
    if verdict.best_step is None:
        return max(ckpts, key=lambda c: c["step_number"])
    return min(ckpts, key=lambda c: abs(c["step_number"] - verdict.best_step))
