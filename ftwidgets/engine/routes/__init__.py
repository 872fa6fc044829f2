"""One thin router per resource of OpenAI's API: files, fine-tuning jobs, models, chat completions.

Each route checks its request, asks the store, the job runner or the generator, and
answers with an `openai.types` object. `Engine` is what they share, on ``app.state``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from fastapi import Depends, Request

from ..jobs import EngineSettings, JobRunner
from ..protocol import APIError
from ..serving import Generator
from ..store import Store


@dataclass
class Engine:
    """The engine's parts, shared by the routers."""

    store: Store
    runner: JobRunner
    generator: Generator
    settings: EngineSettings
    api_key: str
    started: int


def engine(request: Request) -> Engine:
    return request.app.state.engine


def require_key(request: Request) -> None:
    """Every route but ``/health`` needs the engine's key as a bearer token."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    key = engine(request).api_key
    if scheme.lower() != "bearer" or not secrets.compare_digest(token.strip().encode(), key.encode()):
        raise APIError(401, "Incorrect API key provided. Pass the engine's key as a bearer token.",
                       code="invalid_api_key", type="authentication_error")


GUARDED = [Depends(require_key)]
