"""``/v1/completions``: OpenAI's legacy text completions, served for scoring a text (``echo`` with ``logprobs`` and
``max_tokens=0``): each token's log-probability under a base or fine-tuned model, as vLLM serves it. Step 5's
forgetting check reads the loss on everyday text this way; generating text is for chat completions."""

from __future__ import annotations

import secrets
import time

from fastapi import APIRouter, Depends
from openai.types import Completion, CompletionChoice, CompletionUsage
from openai.types.completion_choice import Logprobs

from ..protocol import APIError, CompletionCreate
from ..serving_types import GenRequest
from ..store import wire
from . import GUARDED, Engine, engine, settled

router = APIRouter(prefix="/v1/completions", dependencies=GUARDED)
MAX_TEXTS = 64


@router.post("")
def completions(body: CompletionCreate, e: Engine = Depends(engine)) -> dict:
    if not body.echo or body.max_tokens != 0 or body.stream:
        raise APIError(
            400,
            "the embedded engine's completions endpoint scores a text: send echo=true, max_tokens=0 and logprobs; "
            "to generate, use chat completions",
            code="unsupported_value",
            param="max_tokens" if body.echo else "echo",
        )
    texts = [body.prompt] if isinstance(body.prompt, str) else list(body.prompt)
    if not texts or len(texts) > MAX_TEXTS or not all(isinstance(t, str) and t for t in texts):
        raise APIError(
            400, f"prompt is a text, or a list of 1 to {MAX_TEXTS} texts", code="invalid_value", param="prompt"
        )
    base, adapter = e.served(body.model)
    requests = [GenRequest(body.model, base, adapter, [], max_new_tokens=0, temperature=0, text=t) for t in texts]
    for request in requests:
        e.generator.submit(request)
    results = [settled(request) for request in requests]
    choices = []
    for index, (text, result) in enumerate(zip(texts, results)):
        offsets, at = [], 0
        for token in result.tokens or []:
            offsets.append(at)
            at += len(token)
        logprobs = Logprobs(tokens=result.tokens, token_logprobs=result.token_logprobs, text_offset=offsets)
        choices.append(CompletionChoice(index=index, text=text, finish_reason="length", logprobs=logprobs))
    prompt_tokens = sum(r.prompt_tokens for r in results)
    return wire(
        Completion(
            id=f"cmpl-{secrets.token_hex(12)}",
            object="text_completion",
            created=int(time.time()),
            model=body.model,
            choices=choices,
            usage=CompletionUsage(prompt_tokens=prompt_tokens, completion_tokens=0, total_tokens=prompt_tokens),
        )
    )
