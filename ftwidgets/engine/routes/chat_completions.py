"""``/v1/chat/completions``: answers from a base model or a fine-tuned one (its adapter on the base), streamed or
whole."""

from __future__ import annotations

import json
import secrets
import time

from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse
from openai.types import CompletionUsage
from openai.types.chat import ChatCompletion, ChatCompletionChunk, ChatCompletionMessage
from openai.types.chat.chat_completion import Choice
from openai.types.chat.chat_completion_chunk import Choice as ChunkChoice
from openai.types.chat.chat_completion_chunk import ChoiceDelta

from ..protocol import ChatCreate, error_body
from ..serving_types import GenRequest
from ..store import wire
from . import GUARDED, Engine, answer, engine, generation_request

router = APIRouter(prefix="/v1/chat/completions", dependencies=GUARDED)


def _chunk(cid: str, created: int, model: str, delta: ChoiceDelta, finish_reason=None) -> str:
    chunk = ChatCompletionChunk(
        id=cid,
        object="chat.completion.chunk",
        created=created,
        model=model,
        choices=[ChunkChoice(index=0, delta=delta, finish_reason=finish_reason)],
    )
    return f"data: {json.dumps(wire(chunk))}\n\n"


def stream(req: GenRequest, e: Engine, cid: str, created: int):
    """Server-sent events: a role chunk, the text as it comes, the finish reason, ``[DONE]``."""
    yield _chunk(cid, created, req.model, ChoiceDelta(role="assistant", content=""))
    try:
        for piece in e.generator.stream(req):
            yield _chunk(cid, created, req.model, ChoiceDelta(content=piece))
        yield _chunk(cid, created, req.model, ChoiceDelta(), req.future.result().finish_reason)
    except Exception as exc:  # noqa: BLE001 - reported in-band, the stream has started
        failure = error_body(f"generation failed: {exc}", code="generation_error", type="server_error")
        yield f"data: {json.dumps(failure)}\n\n"
    yield "data: [DONE]\n\n"


@router.post("")
def chat_completions(body: ChatCreate, e: Engine = Depends(engine)):
    req = generation_request(
        e,
        model=body.model,
        messages=[m.model_dump(exclude_none=True) for m in body.messages],
        max_tokens=body.max_completion_tokens or body.max_tokens,
        temperature=body.temperature,
        top_p=body.top_p,
        stop=body.stop,
        seed=body.seed,
    )
    cid, created = f"chatcmpl-{secrets.token_hex(12)}", int(time.time())
    if body.stream:
        return StreamingResponse(stream(req, e, cid, created), media_type="text/event-stream")
    res = answer(e, req)
    return wire(
        ChatCompletion(
            id=cid,
            object="chat.completion",
            created=created,
            model=body.model,
            system_fingerprint="ftwidgets-engine",
            choices=[
                Choice(
                    index=0,
                    message=ChatCompletionMessage(role="assistant", content=res.text, refusal=None),
                    finish_reason=res.finish_reason,
                    logprobs=None,
                )
            ],
            usage=CompletionUsage(
                prompt_tokens=res.prompt_tokens,
                completion_tokens=res.completion_tokens,
                total_tokens=res.prompt_tokens + res.completion_tokens,
            ),
        )
    )
