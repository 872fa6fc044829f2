"""``/v1/fine_tuning/alpha/graders/run`` and ``/validate``: OpenAI's graders, run by the core (`ftwidgets.graders`).

A bad grader is a 400 naming its field. A ``python`` grader is code from whoever calls the engine: it runs (in a
process of its own, with limits, no network where the platform allows) only when the engine listens on loopback or
its operator allowed it (`EngineSettings.python_graders`); otherwise the 400 says why. Model graders ask the
engine's own models, through the same generator as chat.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Depends

from ...graders import ChatFn, GraderError, check_grader
from ...graders.definitions import sub_graders
from ..protocol import APIError, GraderRun, GraderValidate
from . import GUARDED, Engine, answer, engine, generation_request

router = APIRouter(prefix="/v1/fine_tuning/alpha/graders", dependencies=GUARDED)


def _python_graders(grader: Mapping[str, Any], param: str = "grader") -> list[str]:
    if grader.get("type") == "python":
        return [param]
    if grader.get("type") == "multi":
        return [p for name, sub in sub_graders(grader).items() for p in _python_graders(sub, f"{param}.graders.{name}")]
    return []


def checked(grader: dict[str, Any], e: Engine) -> dict[str, Any]:
    """The grader once the core and this engine's rules accept it; else a 400 naming the field."""
    try:
        check_grader(grader)
    except GraderError as exc:
        raise APIError(400, exc.message, code="invalid_grader", param=exc.param) from None
    if not e.settings.python_graders and (found := _python_graders(grader)):
        raise APIError(
            400,
            "python graders run code on this machine, so this engine runs them only when it listens on loopback "
            "or its operator allows them (ftw engine serve --allow-python-graders)",
            code="python_graders_not_allowed",
            param=f"{found[0]}.type",
        )
    return grader


def engine_chat(e: Engine) -> ChatFn:
    """Model graders ask the engine's own models (base or fine-tuned), as a chat request would."""

    def ask(model: str, messages: list[dict[str, str]], params: dict[str, Any]) -> str:
        request = generation_request(
            e,
            model=model,
            messages=messages,
            max_tokens=params.get("max_tokens"),
            temperature=params.get("temperature"),
            top_p=params.get("top_p"),
            stop=None,
            seed=params.get("seed"),
        )
        return answer(e, request).text

    return ask


@router.post("/run")
def run(body: GraderRun, e: Engine = Depends(engine)) -> dict:
    grader = checked(body.grader, e)
    item = body.item if isinstance(body.item, dict) else {} if body.item is None else {"value": body.item}
    return e.grading(engine_chat(e)).run(grader, body.model_sample, item).to_openai()


@router.post("/validate")
def validate(body: GraderValidate, e: Engine = Depends(engine)) -> dict:
    return {"grader": checked(body.grader, e)}
