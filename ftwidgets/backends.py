"""One code path, five backends: the embedded engine, OpenAI, Azure OpenAI, Nebius Token Factory, or any
OpenAI-compatible server. The models each one fine-tunes, and OpenAI's dates, live in the leaf `base_models`.

Everything downstream (training, evaluation, review) takes the `openai.OpenAI`
client this returns, so switching backend is one argument.
"""

from __future__ import annotations

import os
import warnings
from typing import Any, Literal

from .base_models import openai_phase

Backend = Literal["engine", "openai", "azure", "nebius", "compatible"]

# Nebius Token Factory: OpenAI's files and fine_tuning.jobs at its own address (LoRA and full fine-tuning of Llama 3.1
# 8B and larger; docs.tokenfactory.nebius.com, read 2026-12-07)
NEBIUS_BASE_URL = "https://api.tokenfactory.nebius.com/v1/"
# Azure OpenAI's settings, the names its own client reads: the resource's endpoint, a key, the API version
AZURE_ENV = {
    "azure_endpoint": "AZURE_OPENAI_ENDPOINT",
    "api_key": "AZURE_OPENAI_API_KEY",
    "api_version": "OPENAI_API_VERSION",
}


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
