"""The workbook's training rules as checks a plan must pass: 2-4 epochs, a low learning rate, no tiny dataset.

`check_plan` is pure, so the hyperparameter widget, the notebooks and the engine all
apply the same rules and say the same words.

>>> plan = check_plan(1200, n_epochs=3)
>>> plan.blocked, plan.epochs
(False, 3)
>>> check_plan(30).blocked
True
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .tokens import auto_epochs

OK, WARNING, BLOCKED = "ok", "warning", "blocked"
RECOMMENDED_EPOCHS = (2, 4)
MAX_EPOCHS_WITHOUT_OVERRIDE = 25  # the most OpenAI's own "auto" ever picks; 50 is refused
HIGH_LR_MULTIPLIER = 2.0
OPENAI_MIN_EXAMPLES = 10
MIN_EXAMPLES = 100
RECOMMENDED_EXAMPLES = 500
# job metadata flag carrying the explicit override for 10-99 examples to a backend (the engine honours it)
ALLOW_SMALL_METADATA = {"allow_small_dataset": "true"}


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
        add(Guard(BLOCKED, "examples", f"{n_examples} examples: at least {OPENAI_MIN_EXAMPLES} are required, and 500-1,000 work well."))
    elif n_examples < MIN_EXAMPLES and not allow_small:
        add(Guard(BLOCKED, "examples", f"{n_examples} examples: under {MIN_EXAMPLES} rarely teaches anything. Collect more, "
                                       "or tick the explicit override if this is only a rehearsal."))
    elif n_examples < RECOMMENDED_EXAMPLES:
        add(Guard(WARNING, "examples", f"{n_examples} examples: it can work; 500-1,000 diverse examples usually work much better."))
    lo, hi = RECOMMENDED_EPOCHS
    if epochs < 1:
        add(Guard(BLOCKED, "n_epochs", "at least one epoch is needed."))
    elif epochs > MAX_EPOCHS_WITHOUT_OVERRIDE and not allow_many_epochs:
        add(Guard(BLOCKED, "n_epochs", f"{epochs} epochs will memorise the data: use {lo}-{hi}. "
                                       "An explicit override is needed above 25."))
    elif epochs > hi:
        add(Guard(WARNING, "n_epochs", f"{epochs} epochs: more than {hi} often memorises the data; {lo}-{hi} is the usual range."))
    elif epochs < lo and n_epochs != "auto":
        add(Guard(WARNING, "n_epochs", f"{epochs} epoch: a quick rehearsal; {lo}-{hi} epochs usually learn more."))
    if learning_rate_multiplier != "auto":
        lr = float(learning_rate_multiplier)
        if lr <= 0:
            add(Guard(BLOCKED, "learning_rate_multiplier", "the learning-rate multiplier must be positive."))
        elif lr > HIGH_LR_MULTIPLIER:
            add(Guard(WARNING, "learning_rate_multiplier", f"a multiplier of {lr:g} is high: keep the learning rate low "
                                                           f"(at most {HIGH_LR_MULTIPLIER:g}) and add epochs or data instead."))
    if batch_size != "auto" and int(batch_size) < 1:
        add(Guard(BLOCKED, "batch_size", "the batch size must be at least 1."))
    if not plan.guards:
        add(Guard(OK, "plan", f"{n_examples} examples x {epochs} epochs: within the workbook's rules."))
    return plan
