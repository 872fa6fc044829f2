"""One code path, four backends: the embedded engine, OpenAI, Azure OpenAI, or any OpenAI-compatible server.

Everything downstream (training, evaluation, review) takes the `openai.OpenAI`
client this returns, so switching backend is one argument.
"""

from __future__ import annotations

import os
from typing import Any, Literal

Backend = Literal["engine", "openai", "azure", "compatible"]

# the embedded engine's base model, SmolLM2-135M-Instruct: the one place its name is written
DEFAULT_BASE_MODEL = "smollm2-135m-instruct"
# what the workbook fine-tunes on OpenAI and Azure: the cheapest model their fine-tuning takes (until 2027-01-14)
OPENAI_BASE_MODEL = "gpt-4o-mini-2024-07-18"

OPENAI_FINE_TUNING_END = "2027-01-06"  # OpenAI stops new self-serve fine-tuning jobs on this date
OPENAI_FAMILIES_RETIRED = "2027-01-14"  # gpt-4o, gpt-4o-mini, gpt-4.1, gpt-4.1-mini and their fine-tuned variants
# Azure OpenAI's settings, the names its own client reads: the resource's endpoint, a key, the API version
AZURE_ENV = {
    "azure_endpoint": "AZURE_OPENAI_ENDPOINT",
    "api_key": "AZURE_OPENAI_API_KEY",
    "api_version": "OPENAI_API_VERSION",
}


def base_model(backend: Backend | str) -> str:
    """The base model the workbook fine-tunes on `backend`: OpenAI's smallest for OpenAI and Azure, else the engine's.

    >>> base_model("engine"), base_model("azure")
    ('smollm2-135m-instruct', 'gpt-4o-mini-2024-07-18')
    """
    return OPENAI_BASE_MODEL if backend in ("openai", "azure") else DEFAULT_BASE_MODEL


def client(backend: Backend = "engine", *, base_url: str | None = None, api_key: str | None = None, **kwargs: Any):
    """An `openai.OpenAI` client for the chosen backend.

    - ``"engine"`` (default): the embedded engine, in a process of its own shared by every notebook on the
      same data folder (started if needed), so a notebook kernel never loads the model.
    - ``"openai"``: OpenAI itself; the key comes from ``api_key`` or ``OPENAI_API_KEY``.
    - ``"azure"``: Azure OpenAI (`openai.AzureOpenAI`), whose ``fine_tuning.jobs`` the same notebooks drive;
      endpoint, key and API version from ``AZURE_OPENAI_ENDPOINT``, ``AZURE_OPENAI_API_KEY`` and
      ``OPENAI_API_VERSION`` (or ``base_url``/``api_key``/``api_version=``).
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
        return OpenAI(api_key=key, **kwargs)
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
    raise ValueError(f"unknown backend {backend!r}: use 'engine', 'openai', 'azure' or 'compatible'")
