"""The engine's side of OpenAI's HTTP protocol: request bodies, errors, list pages.

Response objects are the `openai` package's own models (`openai.types`), built in the
routers and sent with `store.wire`; the request bodies below are the engine's (the
client's ``...CreateParams`` are TypedDicts, which FastAPI cannot validate).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from ..hyperparams import DPO, HYPERPARAMETERS, SUPERVISED, hyperparameter_names

MAX_LIST_LIMIT = 100


class APIError(Exception):
    """An OpenAI-style error answer: ``{"error": {"message", "type", "param", "code"}}`` with a status."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        type: str = "invalid_request_error",
    ):
        self.status, self.message, self.code, self.param, self.type = status, message, code, param, type


def error_body(
    message: str, *, code: str | None, param: str | None = None, type: str = "invalid_request_error"
) -> dict:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


# --- request bodies --------------------------------------------------------------------


def _hyperparameters_body(method: str) -> type[BaseModel]:
    """The request body of `method`'s hyperparameters, field by field from `hyperparams.HYPERPARAMETERS`: each
    "auto", a value of its type, or left out; anything else is refused."""
    fields = {
        name: (Literal["auto"] | HYPERPARAMETERS[name].kind | None, Field(default=None))
        for name in hyperparameter_names(method)
    }
    return create_model(f"{method.capitalize()}Hyperparameters", __config__=ConfigDict(extra="forbid"), **fields)


Hyperparameters = _hyperparameters_body(SUPERVISED)
DpoHyperparameters = _hyperparameters_body(DPO)


class Supervised(BaseModel):
    model_config = ConfigDict(extra="forbid")
    hyperparameters: Hyperparameters | None = None


class Dpo(BaseModel):
    model_config = ConfigDict(extra="forbid")
    hyperparameters: DpoHyperparameters | None = None


class Method(BaseModel):
    type: Literal["supervised", "dpo", "reinforcement"]
    supervised: Supervised | None = None
    dpo: Dpo | None = None
    reinforcement: dict | None = None


class JobCreate(BaseModel):
    model: str = Field(min_length=1, max_length=512)
    training_file: str = Field(min_length=1, max_length=128)
    validation_file: str | None = Field(default=None, max_length=128)
    hyperparameters: Hyperparameters | None = None
    method: Method | None = None
    suffix: str | None = Field(default=None, max_length=64)
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1)
    metadata: dict[str, str] | None = None
    integrations: list[dict] | None = None

    def requested_hyperparameters(self) -> dict[str, Any]:
        """The hyperparameters asked for (``method`` wins over the older top-level field), "auto" kept."""
        hp = self.hyperparameters
        chosen = getattr(self.method, self.method.type, None) if self.method is not None else None
        if chosen is not None and getattr(chosen, "hyperparameters", None) is not None:
            hp = chosen.hyperparameters
        return hp.model_dump(exclude_none=True) if hp else {}

    @property
    def method_type(self) -> str:
        return self.method.type if self.method is not None else "supervised"


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict] | None = None


class ChatCreate(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str = Field(min_length=1, max_length=512)
    messages: list[ChatMessage] = Field(min_length=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1, le=4096)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=4096)
    stop: str | list[str] | None = None
    seed: int | None = None
    stream: bool | None = False
    n: int | None = Field(default=1, ge=1, le=1)


class ResponseCreate(BaseModel):
    """``POST /v1/responses`` for text. Every field OpenAI defines that the engine cannot honour is declared here so
    that `routes.responses.refusals` can name it in a 400; any other unknown field is a 400 too (``extra="forbid"``),
    never silently dropped. ``stop`` is the engine's own extension (send it with ``extra_body``)."""

    model_config = ConfigDict(extra="forbid")
    model: str = Field(min_length=1, max_length=512)
    input: str | list[dict[str, Any]]
    instructions: str | None = None
    max_output_tokens: int | None = Field(default=None, ge=1, le=4096)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    metadata: dict[str, str] | None = Field(default=None, max_length=16)
    stream: bool | None = False
    # accepted because they change nothing for a text answer without tools
    user: str | None = None
    safety_identifier: str | None = None
    prompt_cache_key: str | None = None
    service_tier: str | None = None
    parallel_tool_calls: bool | None = None
    max_tool_calls: int | None = None
    truncation: Literal["auto", "disabled"] | None = None
    stream_options: dict[str, Any] | None = None
    # accepted only in their text-only, stateless form (checked in routes.responses.refusals)
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    text: dict[str, Any] | None = None
    reasoning: dict[str, Any] | None = None
    include: list[str] | None = None
    store: bool | None = None
    background: bool | None = None
    top_logprobs: int | None = None
    # never supported: state kept between requests, or prompts kept on a server
    previous_response_id: str | None = None
    conversation: str | dict[str, Any] | None = None
    prompt: dict[str, Any] | None = None
    context_management: Any | None = None
    background_options: Any | None = None
    image: Any | None = None
    moderation: Any | None = None
    access_programs: Any | None = None
    prompt_cache_options: Any | None = None
    prompt_cache_retention: Any | None = None


# --- list pages ---------------------------------------------------------------------------


def page_limit(limit: int | None, default: int = 20) -> int:
    if limit is None:
        return default
    if not 1 <= limit <= MAX_LIST_LIMIT:
        raise APIError(400, f"limit must be between 1 and {MAX_LIST_LIMIT}", code="invalid_limit", param="limit")
    return limit


def cursor_page(items: Sequence[dict], after: str | None, limit: int, *, key: str = "id") -> dict:
    """OpenAI's cursor page: items after the one whose id is ``after``; always says has_more."""
    items = list(items)
    if after:
        ids = [it[key] for it in items]
        if after not in ids:
            raise APIError(
                400,
                f"'after' cursor {after!r} does not name an item of this list",
                code="invalid_cursor",
                param="after",
            )
        items = items[ids.index(after) + 1 :]
    page = items[:limit]
    return {
        "object": "list",
        "data": page,
        "has_more": len(items) > limit,
        "first_id": page[0][key] if page else None,
        "last_id": page[-1][key] if page else None,
    }


class GraderRun(BaseModel):
    """``POST /v1/fine_tuning/alpha/graders/run``: the grader is checked field by field by the core
    (`ftwidgets.graders.check_grader`), so its 400 names the field."""

    grader: dict[str, Any]
    model_sample: str
    item: Any = None


class GraderValidate(BaseModel):
    grader: dict[str, Any]


class CompletionCreate(BaseModel):
    """``POST /v1/completions`` (OpenAI's legacy text completions), served for one use: scoring a text, as
    ``echo=True, max_tokens=0, logprobs=0`` asks (each token's log-probability, the first None)."""

    model_config = ConfigDict(extra="allow")
    model: str = Field(min_length=1, max_length=512)
    prompt: str | list[str]
    max_tokens: int | None = Field(default=16, ge=0, le=4096)
    echo: bool | None = False
    logprobs: int | None = Field(default=None, ge=0, le=5)
    stream: bool | None = False
