"""One thin router per resource of OpenAI's API: files, fine-tuning jobs, models, chat completions, responses.

Each route checks its request, asks the store, the job runner or the generator, and
answers with an `openai.types` object. `Engine` is what they share, on ``app.state``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, Request

from .. import models
from ..jobs import JobRunner
from ..protocol import APIError
from ..serving import Generator
from ..serving_types import GenRequest, GenResult
from ..settings import EngineSettings
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
    _grading: Any = None

    def grading(self, chat: Any) -> Any:
        """The engine's one `Grading` (a python grader's process is kept between requests), asking models by `chat`."""
        from ...graders import Grading

        if self._grading is None:
            self._grading = Grading(chat, allow_python=self.settings.python_graders)
        return self._grading

    def served(self, model: str) -> tuple[str, str | None]:
        """The base model and adapter folder (None for a base model) that serve `model`; a 404 when none does."""
        if model in self.settings.base_models:
            return model, None
        if (entry := self.store.models().get(model)) is not None:
            return entry.base, entry.adapter
        raise APIError(404, f"The model {model!r} does not exist", code="model_not_found", param="model")


def generation_request(
    e: Engine,
    *,
    model: str,
    messages: list[dict[str, Any]],
    max_tokens: int | None,
    temperature: float | None,
    top_p: float | None,
    stop: str | list[str] | None,
    seed: int | None,
) -> GenRequest:
    """The generator's request, the same for chat completions and responses: which base and adapter serve `model`,
    OpenAI's sampling defaults (temperature 1, top_p 1, and 256 new tokens here), at most 4 stop sequences."""
    base, adapter = e.served(model)
    stops = [stop] if isinstance(stop, str) else list(stop or [])
    if len(stops) > 4:
        raise APIError(400, "stop holds at most 4 sequences", code="invalid_value", param="stop")
    return GenRequest(
        model=model,
        base=base,
        adapter=adapter,
        messages=messages,
        max_new_tokens=max_tokens or 256,
        temperature=1.0 if temperature is None else temperature,
        top_p=1.0 if top_p is None else top_p,
        stop=[s for s in stops if s],
        seed=seed,
    )


def answer(e: Engine, req: GenRequest) -> GenResult:
    """A whole (not streamed) answer; a base model that cannot be loaded here is a 503 saying how to get it."""
    e.generator.submit(req)
    return settled(req)


def settled(req: GenRequest) -> GenResult:
    """The result of a request already submitted (several are submitted first, so the generator batches them)."""
    try:
        return req.future.result()
    except models.ModelUnavailable as exc:
        raise APIError(503, str(exc), code="model_unavailable", type="server_error") from None


def engine(request: Request) -> Engine:
    return request.app.state.engine


def require_key(request: Request) -> None:
    """Every route but ``/health`` needs the engine's key as a bearer token."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    key = engine(request).api_key
    if scheme.lower() != "bearer" or not secrets.compare_digest(token.strip().encode(), key.encode()):
        raise APIError(
            401,
            "Incorrect API key provided. Pass the engine's key as a bearer token.",
            code="invalid_api_key",
            type="authentication_error",
        )


GUARDED = [Depends(require_key)]
