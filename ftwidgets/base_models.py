"""The base model each backend fine-tunes, and OpenAI's dates: new self-serve fine-tuning jobs end 2027-01-06, the
gpt-4o and gpt-4.1 families retire 2027-01-14.

A leaf: the client factory (`backends`), the engine, the token rules and the training and evaluation calls all read
it, and it imports nothing of the package, so no import goes round through the factory.
"""

from __future__ import annotations

from datetime import date
from typing import Any

# the embedded engine's base model, SmolLM2-135M-Instruct: the one place its name is written
DEFAULT_BASE_MODEL = "smollm2-135m-instruct"
# what the workbook fine-tunes on OpenAI and Azure: the cheapest model their fine-tuning takes (until 2027-01-14)
OPENAI_BASE_MODEL = "gpt-4o-mini-2024-07-18"

OPENAI_FINE_TUNING_END = "2027-01-06"  # OpenAI stops new self-serve fine-tuning jobs on this date
OPENAI_FAMILIES_RETIRED = "2027-01-14"  # gpt-4o, gpt-4o-mini, gpt-4.1, gpt-4.1-mini and their fine-tuned variants
RETIRED_FAMILIES = ("gpt-4o", "gpt-4.1")  # gpt-4o, gpt-4o-mini, gpt-4.1, gpt-4.1-mini and their fine-tuned variants
# Nebius Token Factory's model for LoRA and full fine-tuning (Llama 3.1 8B and larger; docs.tokenfactory.nebius.com,
# read 2026-12-07)
NEBIUS_BASE_MODEL = "meta-llama/Meta-Llama-3.1-8B-Instruct"
STILL_TRAINING = (
    "Azure OpenAI (FTW_BACKEND=azure), Nebius Token Factory (FTW_BACKEND=nebius, Llama 3.1 8B and larger) or the "
    "embedded engine (FTW_BACKEND=engine, offline, no key)"
)


def base_model(backend: str) -> str:
    """The base model the workbook fine-tunes on `backend`: OpenAI's smallest for OpenAI and Azure, Llama 3.1 8B on
    Nebius, else the engine's.

    >>> base_model("engine"), base_model("azure"), base_model("nebius")
    ('smollm2-135m-instruct', 'gpt-4o-mini-2024-07-18', 'meta-llama/Meta-Llama-3.1-8B-Instruct')
    """
    if backend == "nebius":
        return NEBIUS_BASE_MODEL
    return OPENAI_BASE_MODEL if backend in ("openai", "azure") else DEFAULT_BASE_MODEL


class OpenAIEnded(ValueError):
    """OpenAI no longer trains (or serves) what was asked; the message names the backends that still do."""


def openai_phase(model: str | None = None, today: date | None = None) -> tuple[str, str]:
    """Where OpenAI's fine-tuning stands on `today` for `model`: ``("open", warning)`` with the days left before new
    jobs end, ``("ended", refusal)`` from 2027-01-06, ``("retired", refusal)`` from 2027-01-14 for the retired families
    (gpt-4o, gpt-4o-mini, gpt-4.1, gpt-4.1-mini, their fine-tuned variants too).

    >>> openai_phase("gpt-4o-mini-2024-07-18", date(2026, 12, 7))[1][:58]
    'OpenAI ends new fine-tuning jobs on 2027-01-06, in 30 days'
    """
    today = today or date.today()
    end, retired = date.fromisoformat(OPENAI_FINE_TUNING_END), date.fromisoformat(OPENAI_FAMILIES_RETIRED)
    named = (model or "").removeprefix("ft:")
    if today >= retired and named.startswith(RETIRED_FAMILIES):
        return "retired", (
            f"OpenAI retired {model} on {OPENAI_FAMILIES_RETIRED} (gpt-4o, gpt-4o-mini, gpt-4.1 and gpt-4.1-mini, "
            f"fine-tuned or not): nothing was sent. Train and serve on {STILL_TRAINING}."
        )
    if today >= end:
        return "ended", (
            f"OpenAI stopped new fine-tuning jobs on {OPENAI_FINE_TUNING_END}: nothing was uploaded. These same cells "
            f"train on {STILL_TRAINING}."
        )
    return "open", (
        f"OpenAI ends new fine-tuning jobs on {OPENAI_FINE_TUNING_END}, in {(end - today).days} days: models "
        f"fine-tuned there stay usable until {OPENAI_FAMILIES_RETIRED} at the latest. What still trains afterwards: "
        f"{STILL_TRAINING}."
    )


def is_openai(client: Any) -> bool:
    """Whether `client` talks to OpenAI itself (not Azure, not a compatible server)."""
    return getattr(getattr(client, "base_url", None), "host", None) == "api.openai.com"


def refuse_after_openai_end(client: Any, model: str | None, *, jobs: bool, today: date | None = None) -> None:
    """`OpenAIEnded` before anything is sent: a new job on OpenAI from 2027-01-06 (`jobs`), any use of a retired
    model from 2027-01-14. Other backends pass."""
    if not is_openai(client):
        return
    phase, message = openai_phase(model, today)
    if phase == "retired" or (phase == "ended" and jobs):
        raise OpenAIEnded(message)
