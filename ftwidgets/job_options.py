"""Engine-only job options, declared once: settings a job sends in ``metadata``, shaped like `hyperparams`' table.

Metadata, because the official `openai` client sends it unchanged to any backend; OpenAI's own fields (the learning
rate, epochs, batch size) stay hyperparameters. Each `JobOption` names its key, how its text is read (a `ValueError`
in plain words for a bad value, which the engine answers with a 400 naming ``metadata.KEY``), its value when
absent, the option that must be on for it to apply, and the `TrainerSpec` field that carries it to the trainer (None
for one read before training, as the guards' overrides are). A new option: its line in `JOB_OPTIONS`, its
`TrainerSpec` field, and where the trainer uses it.

>>> job_options({"early_stopping": "true", "early_stopping_patience": "3"})["early_stopping_patience"]
3
>>> trainer_fields({"early_stopping_patience": "3"})  # patience alone asks for nothing
{'early_stopping_patience': None}
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .early_stopping import DEFAULT_PATIENCE, MAX_PATIENCE

TRUE = ("1", "true", "yes")


def flag(raw: str) -> bool:
    """An on/off option: on for ``"true"``, ``"1"`` or ``"yes"`` (any case), off for anything else."""
    return str(raw).lower() in TRUE


def whole_number(lo: int, hi: int, unit: str) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            value = lo - 1
        if not lo <= value <= hi:
            raise ValueError(f"must be a whole number of {unit} from {lo} to {hi}, not {raw!r}")
        return value

    return parse


@dataclass(frozen=True)
class JobOption:
    key: str  # the metadata key
    parse: Callable[[str], Any]  # the value from its text; ValueError in plain words when it is bad
    default: Any  # the value when the key is absent
    doc: str
    spec_field: str | None = None  # the TrainerSpec field the trainer reads it from
    needs: str | None = None  # an on/off option that must be on for this one to apply (else its value is None)

    def asked(self, value: str = "true") -> dict[str, str]:
        """The metadata that asks for this option: ``{key: value}``."""
        return {self.key: value}


JOB_OPTIONS: tuple[JobOption, ...] = (
    JobOption("allow_small_dataset", flag, False, "train on 10-99 examples (the size guard's override)"),
    JobOption("allow_many_epochs", flag, False, "more than 25 epochs (the epochs guard's override)"),
    JobOption("early_stopping", flag, False, "stop when the validation loss has stopped improving"),
    JobOption(
        "early_stopping_patience",
        whole_number(1, MAX_PATIENCE, "evaluations"),
        DEFAULT_PATIENCE,
        "evaluations without a 1% gain before early stopping stops",
        spec_field="early_stopping_patience",
        needs="early_stopping",
    ),
)
OPTIONS = {option.key: option for option in JOB_OPTIONS}
ALLOW_SMALL_METADATA = OPTIONS["allow_small_dataset"].asked()  # 10-99 examples
ALLOW_MANY_EPOCHS_METADATA = OPTIONS["allow_many_epochs"].asked()  # more than 25 epochs
EARLY_STOPPING_METADATA = OPTIONS["early_stopping"].asked()


class JobOptionError(ValueError):
    """A job option whose value cannot be read; `key` names it for the engine's 400."""

    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key


def job_options(metadata: Mapping[str, str] | None) -> dict[str, Any]:
    """Every declared option's value for a job's metadata; `JobOptionError` names the first bad one."""
    metadata, values = metadata or {}, {}
    for option in JOB_OPTIONS:  # an option's `needs` is declared before it
        raw = metadata.get(option.key)
        if option.needs and not values[option.needs]:
            values[option.key] = None
        elif raw is None:
            values[option.key] = option.default
        else:
            try:
                values[option.key] = option.parse(raw)
            except ValueError as exc:
                raise JobOptionError(option.key, f"{option.key} {exc}") from None
    return values


def job_option(metadata: Mapping[str, str] | None, key: str) -> Any:
    """One option's value; a flag never fails, so a guard can read its override before the rest is checked."""
    return job_options({k: v for k, v in (metadata or {}).items() if k == key or k == OPTIONS[key].needs})[key]


def trainer_fields(metadata: Mapping[str, str] | None) -> dict[str, Any]:
    """The `TrainerSpec` fields a job's options fill, by name."""
    values = job_options(metadata)
    return {option.spec_field: values[option.key] for option in JOB_OPTIONS if option.spec_field}
