"""``/v1/files``: upload, list, retrieve, read and delete files."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from fastapi import APIRouter, Depends, File, Form, Response, UploadFile
from openai.types import FileDeleted

from ..protocol import APIError, cursor_page, page_limit
from ..store import TooLarge, wire
from . import GUARDED, Engine, engine

router = APIRouter(prefix="/v1/files", dependencies=GUARDED)
PURPOSES = ("fine-tune", "batch", "assistants", "user_data")


@router.post("")
def create_file(file: UploadFile = File(...), purpose: str = Form(...), e: Engine = Depends(engine)) -> dict:
    if purpose not in PURPOSES:
        raise APIError(400, f"Invalid purpose {purpose!r}; use 'fine-tune'", code="invalid_purpose", param="purpose")
    name = Path(file.filename or "upload.jsonl").name[:255] or "upload.jsonl"
    try:
        return wire(e.store.receive_file(file.file, name, purpose, e.settings.max_upload_bytes))
    except TooLarge as exc:
        raise APIError(413, str(exc), code="file_too_large", param="file") from None


@router.get("")
def list_files(
    purpose: str | None = None,
    after: str | None = None,
    limit: int | None = None,
    order: Literal["asc", "desc"] = "desc",
    e: Engine = Depends(engine),
) -> dict:
    files = [wire(f) for f in e.store.list_files(purpose)]
    return cursor_page(files[::-1] if order == "desc" else files, after, page_limit(limit, 10_000))


@router.get("/{file_id}")
def get_file(file_id: str, e: Engine = Depends(engine)) -> dict:
    return wire(e.store.get_file(file_id))


@router.get("/{file_id}/content")
def file_content(file_id: str, e: Engine = Depends(engine)) -> Response:
    return Response(e.store.file_path(file_id).read_bytes(), media_type="application/octet-stream")


@router.delete("/{file_id}")
def delete_file(file_id: str, e: Engine = Depends(engine)) -> dict:
    e.store.delete_file(file_id)
    return wire(FileDeleted(id=file_id, object="file", deleted=True))
