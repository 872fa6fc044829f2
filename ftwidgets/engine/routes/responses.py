"""``/v1/responses``: OpenAI's Responses API for text, so tools that lead with it reach a base or fine-tuned model.

It is the chat route's serving (`generation_request`, the generator's batching, the chat template, stop handling)
behind the Responses shape: ``instructions`` and ``input`` become chat messages, the answer is one assistant
message of ``output_text``, and a stream sends the documented events in order. The engine keeps no state between
requests, so what needs it (stored responses, conversations, background mode), tools and non-text input are each
refused with a 400 that names the parameter, never silently ignored.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse
from openai.types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseContentPartAddedEvent,
    ResponseContentPartDoneEvent,
    ResponseCreatedEvent,
    ResponseErrorEvent,
    ResponseFailedEvent,
    ResponseIncompleteEvent,
    ResponseInProgressEvent,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseOutputMessage,
    ResponseOutputText,
    ResponseTextDeltaEvent,
    ResponseTextDoneEvent,
    ResponseUsage,
)
from openai.types.responses.response_usage import InputTokensDetails, OutputTokensDetails

from ..protocol import APIError, ResponseCreate
from ..serving_types import GenRequest, GenResult
from ..store import wire
from . import GUARDED, Engine, answer, engine, generation_request

router = APIRouter(prefix="/v1/responses", dependencies=GUARDED)

ROLES = {"user", "assistant", "system", "developer"}
TEXT_PARTS = {"input_text", "output_text", "text"}


def _refuse(param: str, message: str) -> APIError:
    return APIError(400, message, code="unsupported_parameter", param=param)


def refusals(body: ResponseCreate) -> None:
    """A 400 naming the first parameter the engine cannot honour. Each is something a client would otherwise get
    silently wrong: a tool never called, a conversation forgotten, an image unseen, a response never stored."""
    stateful = {
        "previous_response_id": "the engine keeps no responses, so there is none to continue: send the whole "
        "conversation as input",
        "conversation": "the engine keeps no conversations: send the whole conversation as input",
        "prompt": "the engine keeps no stored prompts: send the prompt's text as instructions and input",
        "context_management": "the engine does not manage context",
        "background_options": "the engine has no background mode",
        "image": "the engine answers with text only",
        "moderation": "the engine does not moderate",
        "access_programs": "the engine has no access programs",
        "prompt_cache_options": "the engine has no prompt cache",
        "prompt_cache_retention": "the engine has no prompt cache",
    }
    for name, why in stateful.items():
        if getattr(body, name) is not None:
            raise _refuse(name, f"{name} is not supported: {why}.")
    if body.tools:
        raise _refuse("tools", "tools are not supported: the engine's models answer with text only.")
    if body.tool_choice not in (None, "auto", "none"):
        raise _refuse("tool_choice", "tool_choice can only be 'auto' or 'none': the engine supports no tools.")
    if body.background:
        raise _refuse("background", "background mode is not supported: the engine keeps no responses to poll.")
    if body.store:
        raise _refuse("store", "store=true is not supported: the engine keeps no responses. Send store=false.")
    # a text answer has no reasoning items, so their encrypted content is truthfully empty; anything else is not served
    if unserved := [x for x in body.include or [] if x != "reasoning.encrypted_content"]:
        raise _refuse("include", f"include {unserved[0]!r} is not supported: the engine adds nothing to a text answer.")
    if body.top_logprobs:
        raise _refuse("top_logprobs", "top_logprobs is not supported by the engine.")
    fmt = (body.text or {}).get("format") or {"type": "text"}
    if set(body.text or {}) - {"format", "verbosity"} or not isinstance(fmt, dict) or fmt.get("type") != "text":
        raise _refuse(
            "text.format",
            "only text output is supported ({'format': {'type': 'text'}}): the engine "
            "cannot hold a model to a JSON schema.",
        )
    if body.reasoning and any(v is not None for v in body.reasoning.values()):
        raise _refuse("reasoning", "reasoning is not supported: the engine's models are not reasoning models.")


def chat_messages(body: ResponseCreate) -> list[dict[str, Any]]:
    """``instructions`` and ``input`` as chat messages: a string is one user turn; a list holds messages whose
    content is a string or text parts. Anything else (images, files, tool calls and their outputs) is a 400
    naming where it is."""
    messages = [{"role": "system", "content": body.instructions}] if body.instructions else []
    if isinstance(body.input, str):
        return messages + [{"role": "user", "content": body.input}]
    if not body.input:
        raise APIError(400, "input holds no message", code="invalid_value", param="input")
    for i, item in enumerate(body.input):
        kind = item.get("type", "message")
        if kind != "message":
            raise _refuse(
                f"input[{i}].type", f"input items of type {kind!r} are not supported: send messages with text content."
            )
        role = item.get("role")
        if role not in ROLES:
            raise APIError(
                400,
                f"input[{i}].role must be one of {sorted(ROLES)}, not {role!r}",
                code="invalid_value",
                param=f"input[{i}].role",
            )
        content = item.get("content")
        if isinstance(content, list):
            for j, part in enumerate(content):
                if (
                    not isinstance(part, dict)
                    or part.get("type") not in TEXT_PARTS
                    or not isinstance(part.get("text"), str)
                ):
                    seen = part.get("type") if isinstance(part, dict) else type(part).__name__
                    raise _refuse(
                        f"input[{i}].content[{j}]",
                        f"content of type {seen!r} is not supported: the engine's models read text only.",
                    )
            content = "".join(part["text"] for part in content)
        elif not isinstance(content, str):
            raise APIError(
                400,
                f"input[{i}].content must be a string or a list of text parts",
                code="invalid_value",
                param=f"input[{i}].content",
            )
        messages.append({"role": role, "content": content})
    return messages


class _Answer:
    """One response's ids and echoed settings, and the `Response` object at each stage of its life."""

    def __init__(self, body: ResponseCreate, req: GenRequest):
        self.body, self.req = body, req
        self.id, self.message_id = f"resp_{secrets.token_hex(24)}", f"msg_{secrets.token_hex(24)}"
        self.created_at = time.time()

    def message(self, text: str, status: str) -> ResponseOutputMessage:
        content = (
            [ResponseOutputText(type="output_text", text=text, annotations=[], logprobs=[])]
            if status != "in_progress" or text
            else []
        )
        return ResponseOutputMessage(
            id=self.message_id, type="message", role="assistant", status=status, content=content
        )

    def response(self, result: GenResult | None = None, *, failed: str | None = None) -> Response:
        body, req = self.body, self.req
        fields: dict[str, Any] = dict(
            id=self.id,
            object="response",
            created_at=self.created_at,
            model=body.model,
            output=[],
            parallel_tool_calls=True if body.parallel_tool_calls is None else body.parallel_tool_calls,
            tool_choice=body.tool_choice or "auto",
            tools=[],
            status="in_progress",
            error=None,
            incomplete_details=None,
            instructions=body.instructions,
            metadata=body.metadata or {},
            temperature=req.temperature,
            top_p=req.top_p,
            max_output_tokens=body.max_output_tokens,
            previous_response_id=None,
            background=False,
            text={"format": {"type": "text"}},
            truncation=body.truncation or "disabled",
            usage=None,
        )
        if failed is not None:
            fields.update(status="failed", error={"code": "server_error", "message": failed})
        elif result is not None:
            cut = result.finish_reason == "length"
            fields.update(
                status="incomplete" if cut else "completed",
                completed_at=time.time(),
                incomplete_details={"reason": "max_output_tokens"} if cut else None,
                output=[self.message(result.text, "incomplete" if cut else "completed")],
                usage=ResponseUsage(
                    input_tokens=result.prompt_tokens,
                    output_tokens=result.completion_tokens,
                    total_tokens=result.prompt_tokens + result.completion_tokens,
                    input_tokens_details=InputTokensDetails(cached_tokens=0, cache_write_tokens=0),
                    output_tokens_details=OutputTokensDetails(reasoning_tokens=0),
                ),
            )
        return Response(**fields)


def _events(answer: _Answer, e: Engine) -> Iterator[str]:
    """The documented server-sent events, in order: created, in_progress, the message and its text part added,
    the text's deltas and its done, the part and the message done, then completed (or incomplete, when
    max_output_tokens cut it). A failure after the stream has started is an ``error`` event, then ``failed``."""
    seq = iter(range(1 << 62))
    where = dict(item_id=answer.message_id, output_index=0)

    def sse(event) -> str:
        event.sequence_number = next(seq)
        return f"event: {event.type}\ndata: {json.dumps(wire(event))}\n\n"

    yield sse(ResponseCreatedEvent(type="response.created", response=answer.response(), sequence_number=0))
    yield sse(ResponseInProgressEvent(type="response.in_progress", response=answer.response(), sequence_number=0))
    yield sse(
        ResponseOutputItemAddedEvent(
            type="response.output_item.added", output_index=0, sequence_number=0, item=answer.message("", "in_progress")
        )
    )
    empty = ResponseOutputText(type="output_text", text="", annotations=[], logprobs=[])
    yield sse(
        ResponseContentPartAddedEvent(
            type="response.content_part.added", content_index=0, part=empty, sequence_number=0, **where
        )
    )
    try:
        for piece in e.generator.stream(answer.req):
            yield sse(
                ResponseTextDeltaEvent(
                    type="response.output_text.delta",
                    content_index=0,
                    delta=piece,
                    logprobs=[],
                    sequence_number=0,
                    **where,
                )
            )
        result = answer.req.future.result()
    except Exception as exc:  # noqa: BLE001 - reported in-band, the stream has started
        message = f"generation failed: {exc}"
        yield sse(ResponseErrorEvent(type="error", code="server_error", message=message, param=None, sequence_number=0))
        yield sse(
            ResponseFailedEvent(type="response.failed", response=answer.response(failed=message), sequence_number=0)
        )
        return
    final = answer.response(result)
    message = final.output[0]
    yield sse(
        ResponseTextDoneEvent(
            type="response.output_text.done", content_index=0, text=result.text, logprobs=[], sequence_number=0, **where
        )
    )
    yield sse(
        ResponseContentPartDoneEvent(
            type="response.content_part.done", content_index=0, sequence_number=0, part=message.content[0], **where
        )
    )
    yield sse(
        ResponseOutputItemDoneEvent(type="response.output_item.done", output_index=0, item=message, sequence_number=0)
    )
    if final.status == "incomplete":
        yield sse(ResponseIncompleteEvent(type="response.incomplete", response=final, sequence_number=0))
    else:
        yield sse(ResponseCompletedEvent(type="response.completed", response=final, sequence_number=0))


@router.post("")
def create_response(body: ResponseCreate, e: Engine = Depends(engine)):
    refusals(body)
    req = generation_request(
        e,
        model=body.model,
        messages=chat_messages(body),
        max_tokens=body.max_output_tokens,
        temperature=body.temperature,
        top_p=body.top_p,
        stop=body.stop,
        seed=body.seed,
    )
    reply = _Answer(body, req)
    if body.stream:
        return StreamingResponse(_events(reply, e), media_type="text/event-stream")
    return wire(reply.response(answer(e, req)))
