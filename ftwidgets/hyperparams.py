"""The workbook's training rules as checks a plan must pass: 2-4 epochs, a low learning rate, no tiny dataset.

This module is the one home of the hyperparameter rules: what "auto" resolves to
(epochs, batch size, learning-rate multiplier), the bounds a request must keep, the
``method`` object, and the guards. `check_plan` is pure, so the hyperparameter widget,
the notebooks and the engine all apply the same rules and say the same words. `ensure_launchable` is the one gate every
launch goes through (the panel's button, the notebook's launch cell, the grid search):
a blocked plan raises `PlanBlocked` with the guards' words before anything is created.

>>> plan = check_plan(1200, n_epochs=3)
>>> plan.blocked, plan.epochs
(False, 3)
>>> check_plan(30).blocked
True
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .job_options import ALLOW_MANY_EPOCHS_METADATA, job_option

# OpenAI's documented rule for n_epochs="auto": 3 epochs, stretched so 100..25,000 example-passes happen
TARGET_EPOCHS = 3
MIN_TARGET_EXAMPLES = 100
MAX_TARGET_EXAMPLES = 25_000
MIN_DEFAULT_EPOCHS = 1
MAX_DEFAULT_EPOCHS = 25
DEFAULT_LR_MULTIPLIER = 1.0
# DPO's beta for "auto": how far the preference-tuned model may move from its starting model (TRL's default too)
DEFAULT_DPO_BETA = 0.1
SUPERVISED, DPO = "supervised", "dpo"

OK, WARNING, BLOCKED = "ok", "warning", "blocked"
RECOMMENDED_EPOCHS = (2, 4)
MAX_EPOCHS_WITHOUT_OVERRIDE = 25  # the most OpenAI's own "auto" ever picks; 50 is refused
HIGH_LR_MULTIPLIER = 2.0
OPENAI_MIN_EXAMPLES = 10
MIN_EXAMPLES = 100
RECOMMENDED_EXAMPLES = 500


def auto_epochs(n_examples: int) -> int:
    """What OpenAI's ``n_epochs="auto"`` picks: 3, stretched so 100..25,000 example-passes happen."""
    if n_examples <= 0:
        return TARGET_EPOCHS
    epochs = TARGET_EPOCHS
    if n_examples * epochs < MIN_TARGET_EXAMPLES:
        epochs = min(MAX_DEFAULT_EPOCHS, math.ceil(MIN_TARGET_EXAMPLES / n_examples))
    elif n_examples * epochs > MAX_TARGET_EXAMPLES:
        epochs = max(MIN_DEFAULT_EPOCHS, MAX_TARGET_EXAMPLES // n_examples)
    return epochs


def auto_batch_size(n_examples: int) -> int:
    """About 0.2% of the examples, as OpenAI does, but at least 4 (CPU batches are cheap) and at most 64."""
    return int(min(64, max(4, math.ceil(0.002 * n_examples))))


@dataclass(frozen=True)
class Hyperparameter:
    """One hyperparameter, declared once: its OpenAI field name (``method.<type>.hyperparameters.<name>``), its type,
    the bounds a request must keep, what "auto" means for n examples, and the methods that take it. The request
    bodies, the bounds check, "auto", the job's read-back and the trainer's spec are all made from these."""

    name: str
    kind: type  # int or float
    bounds: tuple[float, float]
    auto: Callable[[int], Any]
    methods: tuple[str, ...] = (SUPERVISED, DPO)


HYPERPARAMETERS = {
    h.name: h
    for h in (
        Hyperparameter("n_epochs", int, (1, 50), auto_epochs),
        Hyperparameter("batch_size", int, (1, 256), auto_batch_size),
        Hyperparameter("learning_rate_multiplier", float, (1e-6, 10), lambda n: DEFAULT_LR_MULTIPLIER),
        Hyperparameter("beta", float, (1e-3, 2.0), lambda n: DEFAULT_DPO_BETA, methods=(DPO,)),
    )
}
# what a job request may ask for at all (the guards below judge what is wise within these)
BOUNDS = {h.name: h.bounds for h in HYPERPARAMETERS.values()}


def hyperparameter_names(method: str = SUPERVISED) -> list[str]:
    """The hyperparameters `method` takes, in their declared order.

    >>> hyperparameter_names(DPO)
    ['n_epochs', 'batch_size', 'learning_rate_multiplier', 'beta']
    """
    return [h.name for h in HYPERPARAMETERS.values() if method in h.methods]


def resolve_hyperparameters(requested: Mapping[str, Any], n_examples: int, method: str = SUPERVISED) -> dict[str, Any]:
    """Every "auto" (or missing) hyperparameter replaced by what it means for `n_examples` examples (or pairs).

    >>> resolve_hyperparameters({"beta": "auto"}, 200, DPO)["beta"]
    0.1
    """
    resolved = {}
    for name in hyperparameter_names(method):
        declared, value = HYPERPARAMETERS[name], requested.get(name, "auto")
        resolved[name] = declared.auto(n_examples) if value in (None, "auto") else declared.kind(value)
    return resolved


def out_of_bounds(requested: Mapping[str, Any]) -> tuple[str, str] | None:
    """The first requested hyperparameter outside `BOUNDS`, as (name, message); None when all fit.

    >>> out_of_bounds({"n_epochs": 0})
    ('n_epochs', "n_epochs must be 'auto' or between 1 and 50")
    """
    for name, value in requested.items():
        lo, hi = BOUNDS[name]
        if value != "auto" and not lo <= value <= hi:
            return name, f"{name} must be 'auto' or between {lo} and {hi}"
    return None


class PlanBlocked(ValueError):
    """A training plan the rules refuse; the message is the guards' own words."""


@dataclass(frozen=True)
class Guard:
    level: str  # "ok", "warning" or "blocked"
    field: str  # which setting it is about
    message: str


@dataclass
class Plan:
    examples: int
    epochs: int  # "auto" resolved
    learning_rate_multiplier: float | str
    batch_size: int | str
    guards: list[Guard] = field(default_factory=list)

    @property
    def blocked(self) -> bool:
        return any(g.level == BLOCKED for g in self.guards)

    @property
    def warnings(self) -> list[Guard]:
        return [g for g in self.guards if g.level == WARNING]


def check_plan(
    n_examples: int,
    *,
    n_epochs: int | str = "auto",
    learning_rate_multiplier: float | str = "auto",
    batch_size: int | str = "auto",
    allow_small: bool = False,
    allow_many_epochs: bool = False,
) -> Plan:
    """Resolve "auto" epochs and judge a training plan by the workbook's rules."""
    epochs = auto_epochs(n_examples) if n_epochs == "auto" else int(n_epochs)
    plan = Plan(n_examples, epochs, learning_rate_multiplier, batch_size)
    add = plan.guards.append
    if n_examples < OPENAI_MIN_EXAMPLES:
        add(
            Guard(
                BLOCKED,
                "examples",
                f"{n_examples} examples: at least {OPENAI_MIN_EXAMPLES} are required, and 500-1,000 work well.",
            )
        )
    elif n_examples < MIN_EXAMPLES and not allow_small:
        add(
            Guard(
                BLOCKED,
                "examples",
                f"{n_examples} examples: under {MIN_EXAMPLES} rarely teaches anything. Collect more, "
                "or tick the explicit override if this is only a rehearsal.",
            )
        )
    elif n_examples < RECOMMENDED_EXAMPLES:
        add(
            Guard(
                WARNING,
                "examples",
                f"{n_examples} examples: it can work; 500-1,000 diverse examples usually work much better.",
            )
        )
    if guard := epochs_guard(epochs, allow_many_epochs=allow_many_epochs, chosen=n_epochs != "auto"):
        add(guard)
    if learning_rate_multiplier != "auto":
        lr = float(learning_rate_multiplier)
        if lr <= 0:
            add(Guard(BLOCKED, "learning_rate_multiplier", "the learning-rate multiplier must be positive."))
        elif lr > HIGH_LR_MULTIPLIER:
            add(
                Guard(
                    WARNING,
                    "learning_rate_multiplier",
                    f"a multiplier of {lr:g} is high: keep the learning rate low "
                    f"(at most {HIGH_LR_MULTIPLIER:g}) and add epochs or data instead.",
                )
            )
    if batch_size != "auto" and int(batch_size) < 1:
        add(Guard(BLOCKED, "batch_size", "the batch size must be at least 1."))
    if not plan.guards:
        add(Guard(OK, "plan", f"{n_examples} examples x {epochs} epochs: within the workbook's rules."))
    return plan


def epochs_guard(epochs: int, *, allow_many_epochs: bool = False, chosen: bool = True) -> Guard | None:
    """The epochs rule alone (the engine applies it when a job is created, before its data is read).

    >>> epochs_guard(50).level, epochs_guard(50, allow_many_epochs=True).level, epochs_guard(3)
    ('blocked', 'warning', None)
    """
    lo, hi = RECOMMENDED_EPOCHS
    if epochs < 1:
        return Guard(BLOCKED, "n_epochs", "at least one epoch is needed.")
    if epochs > MAX_EPOCHS_WITHOUT_OVERRIDE and not allow_many_epochs:
        return Guard(
            BLOCKED,
            "n_epochs",
            f"{epochs} epochs will memorise the data: use {lo}-{hi}. An explicit override "
            f"(metadata {ALLOW_MANY_EPOCHS_METADATA}) is needed above {MAX_EPOCHS_WITHOUT_OVERRIDE}.",
        )
    if epochs > hi:
        return Guard(
            WARNING,
            "n_epochs",
            f"{epochs} epochs: more than {hi} often memorises the data; {lo}-{hi} is the usual range.",
        )
    if epochs < lo and chosen:
        return Guard(WARNING, "n_epochs", f"{epochs} epoch: a quick rehearsal; {lo}-{hi} epochs usually learn more.")
    return None


def supervised_method(hyperparameters: Mapping[str, Any]) -> dict[str, Any]:
    """The ``method`` argument of `client.fine_tuning.jobs.create` for supervised fine-tuning."""
    return method_object(SUPERVISED, hyperparameters)


def dpo_method(hyperparameters: Mapping[str, Any]) -> dict[str, Any]:
    """The ``method`` argument for preference tuning (DPO): beta, n_epochs, batch_size, learning_rate_multiplier.

    >>> dpo_method({"beta": 0.2})
    {'type': 'dpo', 'dpo': {'hyperparameters': {'beta': 0.2}}}
    """
    return method_object(DPO, hyperparameters)


def method_object(kind: str, hyperparameters: Mapping[str, Any]) -> dict[str, Any]:
    return {"type": kind, kind: {"hyperparameters": dict(hyperparameters)}}


def requested_hyperparameters(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The hyperparameters in `client.fine_tuning.jobs.create` keyword arguments (``method`` or the older field)."""
    method = settings.get("method") or {}
    hp = (method.get(method.get("type") or "supervised") or {}).get("hyperparameters")
    return dict(hp if hp is not None else settings.get("hyperparameters") or {})


def plan_for_job(n_examples: int, settings: Mapping[str, Any]) -> Plan:
    """The plan that `client.fine_tuning.jobs.create(**settings)` on `n_examples` training examples would run."""
    hp = requested_hyperparameters(settings)
    metadata = settings.get("metadata")
    return check_plan(
        n_examples,
        n_epochs=hp.get("n_epochs", "auto"),
        learning_rate_multiplier=hp.get("learning_rate_multiplier", "auto"),
        batch_size=hp.get("batch_size", "auto"),
        allow_small=job_option(metadata, "allow_small_dataset"),
        allow_many_epochs=job_option(metadata, "allow_many_epochs"),
    )


def ensure_launchable(n_examples: int, settings: Mapping[str, Any]) -> Plan:
    """The one gate before a job is created: the plan, or `PlanBlocked` with every blocking guard's message.

    >>> supervised = {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 3}}}
    >>> ensure_launchable(1000, {"method": supervised}).epochs
    3
    >>> ensure_launchable(1000, {"hyperparameters": {"n_epochs": 50}})
    Traceback (most recent call last):
    ...
    ftwidgets.hyperparams.PlanBlocked: Not launched: 50 epochs will memorise the data: use 2-4. ...
    """
    plan = plan_for_job(n_examples, settings)
    if plan.blocked:
        raise PlanBlocked("Not launched: " + " ".join(g.message for g in plan.guards if g.level == BLOCKED))
    return plan
