"""One code path, five backends: the embedded engine, OpenAI, Azure OpenAI, Nebius Token Factory, or any
OpenAI-compatible server; and OpenAI's dates (new fine-tuning jobs end 2027-01-06, its gpt-4o and gpt-4.1 families
retire 2027-01-14), read before anything is sent there.

Everything downstream (training, evaluation, review) takes the `openai.OpenAI`
client this returns, so switching backend is one argument.
"""

from __future__ import annotations

import os
import warnings
from datetime import date
from typing import Any, Literal

Backend = Literal["engine", "openai", "azure", "nebius", "compatible"]

# the embedded engine's base model, SmolLM2-135M-Instruct: the one place its name is written
DEFAULT_BASE_MODEL = "smollm2-135m-instruct"
# what the workbook fine-tunes on OpenAI and Azure: the cheapest model their fine-tuning takes (until 2027-01-14)
OPENAI_BASE_MODEL = "gpt-4o-mini-2024-07-18"

OPENAI_FINE_TUNING_END = "2027-01-06"  # OpenAI stops new self-serve fine-tuning jobs on this date
OPENAI_FAMILIES_RETIRED = "2027-01-14"  # gpt-4o, gpt-4o-mini, gpt-4.1, gpt-4.1-mini and their fine-tuned variants
RETIRED_FAMILIES = ("gpt-4o", "gpt-4.1")  # gpt-4o, gpt-4o-mini, gpt-4.1, gpt-4.1-mini and their fine-tuned variants
# Nebius Token Factory: OpenAI's files and fine_tuning.jobs at its own address (LoRA and full fine-tuning of Llama 3.1
# 8B and larger; docs.tokenfactory.nebius.com, read 2026-12-07)
NEBIUS_BASE_URL = "https://api.tokenfactory.nebius.com/v1/"
NEBIUS_BASE_MODEL = "meta-llama/Meta-Llama-3.1-8B-Instruct"
STILL_TRAINING = (
    "Azure OpenAI (FTW_BACKEND=azure), Nebius Token Factory (FTW_BACKEND=nebius, Llama 3.1 8B and larger) or the "
    "embedded engine (FTW_BACKEND=engine, offline, no key)"
)
# Azure OpenAI's settings, the names its own client reads: the resource's endpoint, a key, the API version
AZURE_ENV = {
    "azure_endpoint": "AZURE_OPENAI_ENDPOINT",
    "api_key": "AZURE_OPENAI_API_KEY",
    "api_version": "OPENAI_API_VERSION",
}


def base_model(backend: Backend | str) -> str:
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


_warned = False


def client(backend: Backend = "engine", *, base_url: str | None = None, api_key: str | None = None, **kwargs: Any):
    """An `openai.OpenAI` client for the chosen backend.

    - ``"engine"`` (default): the embedded engine, in a process of its own shared by every notebook on the
      same data folder (started if needed), so a notebook kernel never loads the model.
    - ``"openai"``: OpenAI itself; the key comes from ``api_key`` or ``OPENAI_API_KEY``.
    - ``"azure"``: Azure OpenAI (`openai.AzureOpenAI`), whose ``fine_tuning.jobs`` the same notebooks drive;
      endpoint, key and API version from ``AZURE_OPENAI_ENDPOINT``, ``AZURE_OPENAI_API_KEY`` and
      ``OPENAI_API_VERSION`` (or ``base_url``/``api_key``/``api_version=``).
    - ``"nebius"``: Nebius Token Factory (OpenAI's files and fine-tuning jobs at its own address, Llama 3.1 8B and
      larger), key from ``api_key`` or ``NEBIUS_API_KEY``.
    - ``"compatible"``: any OpenAI-compatible server at ``base_url`` (or ``FTW_BASE_URL``), key from
      ``api_key``, ``FTW_API_KEY`` or ``OPENAI_API_KEY``.

    The notebooks call ``client(os.environ.get("FTW_BACKEND", "engine"))``, so the
    environment alone switches a whole workbook run to another backend.
    """
    from openai import OpenAI

    if backend == "engine":
        from .engine import ensure_process

        handle = ensure_process(api_key=api_key)
        return handle.client(**kwargs)
    if backend == "openai":
        key = api_key or os.environ.get("OPENAI_API_KEY")
        if not key:
            raise ValueError("no OpenAI key: set OPENAI_API_KEY or pass api_key=...; the embedded engine needs none")
        global _warned
        phase, message = openai_phase()
        if phase == "open" and not _warned:  # once a process: the date is near, and what comes after is named
            warnings.warn(message, FutureWarning, stacklevel=2)
            _warned = True
        return OpenAI(api_key=key, **kwargs)
    if backend == "nebius":
        key = api_key or os.environ.get("NEBIUS_API_KEY")
        if not key:
            raise ValueError("Nebius Token Factory needs a key: set NEBIUS_API_KEY or pass api_key=...")
        return OpenAI(base_url=base_url or NEBIUS_BASE_URL, api_key=key, **kwargs)
    if backend == "azure":
        from openai import AzureOpenAI

        given = {"azure_endpoint": base_url, "api_key": api_key, "api_version": kwargs.pop("api_version", None)}
        settings = {name: value or os.environ.get(AZURE_ENV[name]) for name, value in given.items()}
        missing = [AZURE_ENV[name] for name, value in settings.items() if not value]
        if missing:
            raise ValueError(
                f"Azure OpenAI needs {', '.join(missing)} (the resource's endpoint, a key and an API version)"
            )
        return AzureOpenAI(**settings, **kwargs)
    if backend == "compatible":
        base_url = base_url or os.environ.get("FTW_BASE_URL")
        if not base_url:
            raise ValueError("an OpenAI-compatible backend needs base_url='http://host:port/v1' (or FTW_BASE_URL)")
        key = api_key or os.environ.get("FTW_API_KEY") or os.environ.get("OPENAI_API_KEY") or "none"
        return OpenAI(base_url=base_url, api_key=key, **kwargs)
    raise ValueError(f"unknown backend {backend!r}: use 'engine', 'openai', 'azure', 'nebius' or 'compatible'")
