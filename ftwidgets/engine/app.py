"""The engine's HTTP API: the parts of OpenAI's that the `openai` client needs for fine-tuning.

Routes return OpenAI-shaped objects and OpenAI-shaped errors
(``{"error": {"message", "type", "param", "code"}}``). Every bad request is a 4xx:
validation errors, unknown ids, malformed ids (never a path), oversized uploads.
A bearer key is required on every route but ``/health``.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import time
from pathlib import Path
from typing import Literal, Optional, Union

from fastapi import Depends, FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..hyperparams import (
    ALLOW_MANY_EPOCHS_METADATA,
    BLOCKED,
    epochs_guard,
    metadata_flag,
    out_of_bounds,
    supervised_method,
)
from ..job_states import ACTIVE
from . import models
from .jobs import ORG, EngineSettings, JobRunner
from .serving import Generator, GenRequest
from .store import NotFound, Store, new_id, now

MAX_LIST_LIMIT = 100


class APIError(Exception):
    def __init__(self, status: int, message: str, *, code: str | None = None, param: str | None = None,
                 type: str = "invalid_request_error"):
        self.status, self.message, self.code, self.param, self.type = status, message, code, param, type


def error_body(message: str, *, code: str | None, param: str | None = None, type: str = "invalid_request_error") -> dict:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


# --- request bodies --------------------------------------------------------------------


class Hyperparameters(BaseModel):
    model_config = ConfigDict(extra="forbid")
    n_epochs: Union[Literal["auto"], int, None] = Field(default=None)
    batch_size: Union[Literal["auto"], int, None] = Field(default=None)
    learning_rate_multiplier: Union[Literal["auto"], float, None] = Field(default=None)


class Supervised(BaseModel):
    hyperparameters: Optional[Hyperparameters] = None


class Method(BaseModel):
    type: Literal["supervised", "dpo", "reinforcement"]
    supervised: Optional[Supervised] = None
    dpo: Optional[dict] = None
    reinforcement: Optional[dict] = None


class JobCreate(BaseModel):
    model: str = Field(min_length=1, max_length=512)
    training_file: str = Field(min_length=1, max_length=128)
    validation_file: Optional[str] = Field(default=None, max_length=128)
    hyperparameters: Optional[Hyperparameters] = None
    method: Optional[Method] = None
    suffix: Optional[str] = Field(default=None, max_length=64)
    seed: Optional[int] = Field(default=None, ge=0, le=2**31 - 1)
    metadata: Optional[dict[str, str]] = None
    integrations: Optional[list[dict]] = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: Union[str, list[dict], None] = None


class ChatCreate(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str = Field(min_length=1, max_length=512)
    messages: list[ChatMessage] = Field(min_length=1)
    temperature: Optional[float] = Field(default=None, ge=0, le=2)
    top_p: Optional[float] = Field(default=None, gt=0, le=1)
    max_tokens: Optional[int] = Field(default=None, ge=1, le=4096)
    max_completion_tokens: Optional[int] = Field(default=None, ge=1, le=4096)
    stop: Union[str, list[str], None] = None
    seed: Optional[int] = None
    stream: Optional[bool] = False
    n: Optional[int] = Field(default=1, ge=1, le=1)


# --- objects ------------------------------------------------------------------------------


def public_job(job: dict) -> dict:
    return {k: v for k, v in job.items() if not k.startswith("_")}


def cursor_page(items: list[dict], after: str | None, limit: int, *, key: str = "id") -> dict:
    """OpenAI's cursor page: items after the one whose id is ``after``; always says has_more."""
    if after:
        ids = [it[key] for it in items]
        if after not in ids:
            raise APIError(400, f"'after' cursor {after!r} does not name an item of this list", code="invalid_cursor", param="after")
        items = items[ids.index(after) + 1:]
    page = items[:limit]
    return {
        "object": "list",
        "data": page,
        "has_more": len(items) > limit,
        "first_id": page[0][key] if page else None,
        "last_id": page[-1][key] if page else None,
    }


def _limit(limit: int | None, default: int = 20) -> int:
    if limit is None:
        return default
    if not 1 <= limit <= MAX_LIST_LIMIT:
        raise APIError(400, f"limit must be between 1 and {MAX_LIST_LIMIT}", code="invalid_limit", param="limit")
    return limit


# --- the application -------------------------------------------------------------------------


def create_app(data_dir: str | Path, *, api_key: str, settings: EngineSettings | None = None) -> FastAPI:
    settings = settings or EngineSettings()
    max_upload_bytes = settings.max_upload_bytes
    base_models = tuple(settings.base_models)
    store = Store(data_dir)
    runner = JobRunner(store, settings)
    generator = Generator(threads=settings.threads)  # torch is imported on the first chat request
    started = now()

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI):
        yield
        runner.stop()
        generator.close()

    app = FastAPI(title="ftwidgets engine", version="1", description="OpenAI-compatible fine-tuning, offline.",
                  docs_url=None, redoc_url=None, lifespan=lifespan)
    app.state.store, app.state.runner, app.state.generator = store, runner, generator

    @app.exception_handler(APIError)
    async def _api_error(_: Request, exc: APIError):
        return JSONResponse(error_body(exc.message, code=exc.code, param=exc.param, type=exc.type), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        loc = [str(x) for x in first.get("loc", ()) if x not in ("body", "query", "path")]
        param = ".".join(loc) or None
        return JSONResponse(error_body(f"Invalid value for {param or 'request'}: {first.get('msg', 'invalid')}",
                                       code="invalid_value", param=param), status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed", 401: "invalid_api_key"}.get(exc.status_code, "http_error")
        return JSONResponse(error_body(str(exc.detail), code=code), status_code=exc.status_code)

    @app.exception_handler(NotFound)
    async def _not_found(_: Request, exc: NotFound):
        return JSONResponse(error_body(f"No such object: {exc.args[0]!r}", code="not_found"), status_code=404)

    @app.middleware("http")
    async def _refuse_oversized_uploads(request: Request, call_next):
        """Say no before reading the body when the declared size is already over the limit."""
        declared = request.headers.get("content-length", "")
        if request.url.path == "/v1/files" and declared.isdigit() and int(declared) > max_upload_bytes + 65536:
            return JSONResponse(error_body(f"File is larger than the {max_upload_bytes:,}-byte limit", code="file_too_large",
                                           param="file"), status_code=413)
        return await call_next(request)

    def auth(request: Request) -> None:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(token.strip().encode(), api_key.encode()):
            raise APIError(401, "Incorrect API key provided. Pass the engine's key as a bearer token.",
                           code="invalid_api_key", type="authentication_error")

    guarded = [Depends(auth)]

    @app.get("/health", include_in_schema=False)
    def health() -> dict:
        return {"status": "ok", "started": started}

    # --- files ----------------------------------------------------------------------------
    @app.post("/v1/files", dependencies=guarded)
    def create_file(file: UploadFile = File(...), purpose: str = Form(...)) -> dict:
        if purpose not in ("fine-tune", "batch", "assistants", "user_data"):
            raise APIError(400, f"Invalid purpose {purpose!r}; use 'fine-tune'", code="invalid_purpose", param="purpose")
        import tempfile

        fd, tmp = tempfile.mkstemp(dir=store.root / "files", prefix=".upload-")
        size = 0
        with open(fd, "wb") as fh:
            while chunk := file.file.read(1 << 20):
                size += len(chunk)
                if size > max_upload_bytes:
                    fh.close()
                    Path(tmp).unlink(missing_ok=True)
                    raise APIError(413, f"File is larger than the {max_upload_bytes:,}-byte limit", code="file_too_large", param="file")
                fh.write(chunk)
        name = Path(file.filename or "upload.jsonl").name[:255] or "upload.jsonl"
        return store.add_file(Path(tmp), name, purpose, size)

    @app.get("/v1/files", dependencies=guarded)
    def list_files(purpose: Optional[str] = None, after: Optional[str] = None, limit: Optional[int] = None,
                   order: Literal["asc", "desc"] = "desc") -> dict:
        items = store.list_files(purpose)
        if order == "desc":
            items = items[::-1]
        return cursor_page(items, after, _limit(limit, 10_000))

    @app.get("/v1/files/{file_id}", dependencies=guarded)
    def get_file(file_id: str) -> dict:
        return store.get_file(file_id)

    @app.get("/v1/files/{file_id}/content", dependencies=guarded)
    def file_content(file_id: str) -> Response:
        path = store.file_path(file_id)
        return Response(path.read_bytes(), media_type="application/octet-stream")

    @app.delete("/v1/files/{file_id}", dependencies=guarded)
    def delete_file(file_id: str) -> dict:
        store.delete_file(file_id)
        return {"id": file_id, "object": "file", "deleted": True}

    # --- fine-tuning jobs --------------------------------------------------------------------
    @app.post("/v1/fine_tuning/jobs", dependencies=guarded)
    def create_job(body: JobCreate) -> dict:
        if body.model not in base_models:
            raise APIError(400, f"Model {body.model!r} is not available for fine-tuning here; use one of {list(base_models)}",
                           code="model_not_available", param="model")
        if body.method is not None and body.method.type != "supervised":
            raise APIError(400, f"Method {body.method.type!r} is not supported by the embedded engine; use 'supervised'",
                           code="unsupported_method", param="method.type")
        for param in ("training_file", "validation_file"):
            fid = getattr(body, param)
            if fid is None:
                continue
            try:
                f = store.get_file(fid)
            except NotFound:
                raise APIError(400, f"Invalid file ID {fid!r} for {param}", code="invalid_file", param=param) from None
            if f["purpose"] != "fine-tune":
                raise APIError(400, f"{param} {fid} was uploaded with purpose {f['purpose']!r}, not 'fine-tune'",
                               code="invalid_file_purpose", param=param)
        if body.metadata is not None and (len(body.metadata) > 16 or any(len(k) > 64 or len(v) > 512 for k, v in body.metadata.items())):
            raise APIError(400, "metadata holds at most 16 keys of 64 characters with values of 512", code="invalid_metadata", param="metadata")
        hp = body.hyperparameters
        if body.method is not None and body.method.supervised and body.method.supervised.hyperparameters:
            hp = body.method.supervised.hyperparameters
        requested = hp.model_dump(exclude_none=True) if hp else {}
        if bad := out_of_bounds(requested):
            raise APIError(400, bad[1], code="invalid_hyperparameter", param=f"hyperparameters.{bad[0]}")
        if isinstance(requested.get("n_epochs"), int):  # the rule a notebook cell could otherwise go around
            guard = epochs_guard(requested["n_epochs"], allow_many_epochs=metadata_flag(body.metadata, ALLOW_MANY_EPOCHS_METADATA))
            if guard is not None and guard.level == BLOCKED:
                raise APIError(400, guard.message, code="invalid_hyperparameter", param="hyperparameters.n_epochs")
        job_id = new_id("ftjob")
        job = {
            "id": job_id,
            "object": "fine_tuning.job",
            "created_at": now(),
            "error": None,
            "fine_tuned_model": None,
            "finished_at": None,
            "hyperparameters": {"n_epochs": requested.get("n_epochs", "auto"), "batch_size": requested.get("batch_size", "auto"),
                                "learning_rate_multiplier": requested.get("learning_rate_multiplier", "auto")},
            "model": body.model,
            "organization_id": f"org-{ORG}",
            "result_files": [],
            "seed": body.seed if body.seed is not None else secrets.randbelow(2**31),
            "status": "validating_files",
            "trained_tokens": None,
            "training_file": body.training_file,
            "validation_file": body.validation_file,
            "integrations": [],
            "user_provided_suffix": body.suffix,
            "metadata": body.metadata,
            "estimated_finish": None,
            "method": supervised_method(requested),
            "_requested_hyperparameters": requested,
        }
        store.job_dir(job_id).mkdir(parents=True)
        store.save_job(job)
        store.event(job_id, f"Validating training file: {body.training_file}")
        store.event(job_id, f"Created fine-tuning job: {job_id}")
        runner.wake()
        return public_job(job)

    @app.get("/v1/fine_tuning/jobs", dependencies=guarded)
    def list_jobs(request: Request, after: Optional[str] = None, limit: Optional[int] = None) -> dict:
        wanted = {k[len("metadata["):-1]: v for k, v in request.query_params.items() if k.startswith("metadata[") and k.endswith("]")}
        jobs = [public_job(j) for j in store.list_jobs()]
        if wanted:
            jobs = [j for j in jobs if all((j.get("metadata") or {}).get(k) == v for k, v in wanted.items())]
        return cursor_page(jobs, after, _limit(limit))

    @app.get("/v1/fine_tuning/jobs/{job_id}", dependencies=guarded)
    def get_job(job_id: str) -> dict:
        return public_job(store.get_job(job_id))

    @app.post("/v1/fine_tuning/jobs/{job_id}/cancel", dependencies=guarded)
    def cancel_job(job_id: str) -> dict:
        job = store.get_job(job_id)
        if job["status"] not in ACTIVE:
            raise APIError(400, f"Job {job_id} is already {job['status']}", code="invalid_job_state", param="job_id")
        return public_job(runner.cancel(job_id))

    @app.get("/v1/fine_tuning/jobs/{job_id}/events", dependencies=guarded)
    def job_events(job_id: str, after: Optional[str] = None, limit: Optional[int] = None) -> dict:
        return cursor_page(store.events(job_id), after, _limit(limit))

    @app.get("/v1/fine_tuning/jobs/{job_id}/checkpoints", dependencies=guarded)
    def job_checkpoints(job_id: str, after: Optional[str] = None, limit: Optional[int] = None) -> dict:
        store.get_job(job_id)
        items = [{k: v for k, v in c.items() if k != "adapter"} for c in store.checkpoints(job_id)]
        return cursor_page(items, after, _limit(limit, 10))

    # --- models -----------------------------------------------------------------------------
    def model_object(name: str, created: int, owner: str) -> dict:
        return {"id": name, "object": "model", "created": created, "owned_by": owner}

    def all_models() -> list[dict]:
        out = [model_object(b, started, "ftwidgets") for b in base_models]
        out += [model_object(n, m["created"], f"org-{ORG}") for n, m in sorted(store.models().items(), key=lambda x: x[1]["created"])]
        return out

    @app.get("/v1/models", dependencies=guarded)
    def list_models() -> dict:
        return {"object": "list", "data": all_models()}

    @app.get("/v1/models/{model:path}", dependencies=guarded)
    def get_model(model: str) -> dict:
        for m in all_models():
            if m["id"] == model:
                return m
        raise APIError(404, f"The model {model!r} does not exist", code="model_not_found", param="model")

    @app.delete("/v1/models/{model:path}", dependencies=guarded)
    def delete_model(model: str) -> dict:
        if model in base_models:
            raise APIError(403, "Base models cannot be deleted", code="forbidden", param="model")
        try:
            store.delete_model(model)
        except NotFound:
            raise APIError(404, f"The model {model!r} does not exist", code="model_not_found", param="model") from None
        return {"id": model, "object": "model", "deleted": True}

    # --- chat completions ---------------------------------------------------------------------
    def route(model: str) -> tuple[str, str | None]:
        if model in base_models:
            return model, None
        entry = store.models().get(model)
        if entry is None:
            raise APIError(404, f"The model {model!r} does not exist", code="model_not_found", param="model")
        return entry["base"], entry["adapter"]

    @app.post("/v1/chat/completions", dependencies=guarded)
    def chat_completions(body: ChatCreate):
        base, adapter = route(body.model)
        stop = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
        if len(stop) > 4:
            raise APIError(400, "stop holds at most 4 sequences", code="invalid_value", param="stop")
        messages = [m.model_dump(exclude_none=True) for m in body.messages]
        req = GenRequest(
            model=body.model, base=base, adapter=adapter, messages=messages,
            max_new_tokens=body.max_completion_tokens or body.max_tokens or 256,
            temperature=1.0 if body.temperature is None else body.temperature,
            top_p=1.0 if body.top_p is None else body.top_p, stop=[s for s in stop if s], seed=body.seed,
        )
        cid = f"chatcmpl-{secrets.token_hex(12)}"
        created = int(time.time())
        if body.stream:
            def events():
                head = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": body.model,
                        "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}
                yield f"data: {json.dumps(head)}\n\n"
                try:
                    for piece in generator.stream(req):
                        chunk = dict(head, choices=[{"index": 0, "delta": {"content": piece}, "finish_reason": None}])
                        yield f"data: {json.dumps(chunk)}\n\n"
                    res = req.future.result()
                    last = dict(head, choices=[{"index": 0, "delta": {}, "finish_reason": res.finish_reason}])
                    yield f"data: {json.dumps(last)}\n\n"
                except Exception as exc:  # noqa: BLE001 - reported in-band, the stream has started
                    yield f"data: {json.dumps(error_body(f'generation failed: {exc}', code='generation_error', type='server_error'))}\n\n"
                yield "data: [DONE]\n\n"

            return StreamingResponse(events(), media_type="text/event-stream")
        try:
            res = generator.submit(req).result()
        except models.ModelUnavailable as exc:
            raise APIError(503, str(exc), code="model_unavailable", type="server_error") from None
        return {
            "id": cid,
            "object": "chat.completion",
            "created": created,
            "model": body.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": res.text, "refusal": None},
                         "finish_reason": res.finish_reason, "logprobs": None}],
            "usage": {"prompt_tokens": res.prompt_tokens, "completion_tokens": res.completion_tokens,
                      "total_tokens": res.prompt_tokens + res.completion_tokens},
            "system_fingerprint": "ftwidgets-engine",
        }

    return app
