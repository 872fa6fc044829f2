"""``/v1/models``: the base models and every fine-tuned model (checkpoints included); delete a fine-tuned one."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from openai.types import Model, ModelDeleted

from ..protocol import APIError
from ..recipe import ORG
from ..store import NotFound, wire
from . import GUARDED, Engine, engine

router = APIRouter(prefix="/v1/models", dependencies=GUARDED)


def all_models(e: Engine) -> list[Model]:
    base = [Model(id=b, created=e.started, object="model", owned_by="ftwidgets") for b in e.settings.base_models]
    tuned = sorted(e.store.models().items(), key=lambda item: item[1].created)
    return base + [Model(id=name, created=m.created, object="model", owned_by=f"org-{ORG}") for name, m in tuned]


def not_found(model: str) -> APIError:
    return APIError(404, f"The model {model!r} does not exist", code="model_not_found", param="model")


@router.get("")
def list_models(e: Engine = Depends(engine)) -> dict:
    return {"object": "list", "data": [wire(m) for m in all_models(e)]}


@router.get("/{model:path}")
def get_model(model: str, e: Engine = Depends(engine)) -> dict:
    for m in all_models(e):
        if m.id == model:
            return wire(m)
    raise not_found(model)


@router.delete("/{model:path}")
def delete_model(model: str, e: Engine = Depends(engine)) -> dict:
    if model in e.settings.base_models:
        raise APIError(403, "Base models cannot be deleted", code="forbidden", param="model")
    try:
        e.store.delete_model(model)
    except NotFound:
        raise not_found(model) from None
    return wire(ModelDeleted(id=model, object="model", deleted=True))
