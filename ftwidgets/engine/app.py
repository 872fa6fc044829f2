"""The engine's HTTP API: the parts of OpenAI's that the `openai` client needs for fine-tuning.

`create_app` assembles the engine (store, job runner, generator), OpenAI-shaped
errors (``{"error": {"message", "type", "param", "code"}}``) and one router per
resource (`routes`). Every bad request is a 4xx: validation errors, unknown ids,
malformed ids (never a path), oversized uploads. A bearer key is required on every
route but ``/health``.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..runtime import disk
from .contract import now
from .jobs import JobRunner
from .protocol import APIError, error_body
from .routes import Engine, chat_completions, completions, files, fine_tuning, graders, responses, served_models
from .serving import Generator
from .settings import EngineSettings
from .store import NotFound, Store

log = logging.getLogger(__name__)


class _Stderr(logging.StreamHandler):
    """A handler that writes to whatever `sys.stderr` is when a line is logged (a test's capture, a terminal, or
    engine.log for an engine in a process of its own), never a stream that has since been closed."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def log_to_stderr() -> None:
    """The engine's log lines (``ftw engine: ...``, INFO and above) on stderr, once per process; the library's other
    loggers are left to the application."""
    engine_log = logging.getLogger("ftwidgets.engine")
    if not any(isinstance(h, _Stderr) for h in engine_log.handlers):
        handler = _Stderr()
        handler.setFormatter(logging.Formatter("ftw engine: %(message)s"))
        engine_log.addHandler(handler)
        engine_log.setLevel(logging.INFO)
        engine_log.propagate = False


def create_app(data_dir: str | Path, *, api_key: str, settings: EngineSettings | None = None) -> FastAPI:
    log_to_stderr()
    settings = settings or EngineSettings()
    store = Store(data_dir)
    generator = Generator(
        threads=settings.threads,
        cpu_bf16=settings.cpu_bf16,  # torch comes with the first chat request
        idle_release=settings.serving_idle_release,
    )
    # a trainer and the chat models together would not fit a 2 GB machine: the models go, and come back on the next chat
    runner = JobRunner(store, settings, before_training=generator.release)
    engine = Engine(store=store, runner=runner, generator=generator, settings=settings, api_key=api_key, started=now())

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI):
        yield
        engine.runner.stop()
        engine.generator.close()
        if engine._grading is not None:
            engine._grading.close()

    app = FastAPI(
        title="ftwidgets engine",
        version="1",
        description="OpenAI-compatible fine-tuning, offline.",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.engine = engine
    _answer_errors_as_openai_does(app, store.root)
    _refuse_oversized_uploads(app, settings.max_upload_bytes)

    @app.get("/health", include_in_schema=False)
    def health() -> dict:
        return {"status": "ok", "started": engine.started}

    for router in (
        files.router,
        fine_tuning.router,
        graders.router,
        served_models.router,
        chat_completions.router,
        completions.router,
        responses.router,
    ):
        app.include_router(router)
    return app


def _answer_errors_as_openai_does(app: FastAPI, data_dir: Path) -> None:
    @app.exception_handler(APIError)
    async def _api_error(_: Request, exc: APIError):
        return JSONResponse(
            error_body(exc.message, code=exc.code, param=exc.param, type=exc.type), status_code=exc.status
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        loc = [str(x) for x in first.get("loc", ()) if x not in ("body", "query", "path")]
        param = ".".join(loc) or None
        return JSONResponse(
            error_body(
                f"Invalid value for {param or 'request'}: {first.get('msg', 'invalid')}",
                code="invalid_value",
                param=param,
            ),
            status_code=400,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed", 401: "invalid_api_key"}.get(exc.status_code, "http_error")
        return JSONResponse(error_body(str(exc.detail), code=code), status_code=exc.status_code)

    @app.exception_handler(NotFound)
    async def _not_found(_: Request, exc: NotFound):
        return JSONResponse(error_body(f"No such object: {exc.args[0]!r}", code="not_found"), status_code=404)

    @app.exception_handler(OSError)
    async def _disk_error(request: Request, exc: OSError):
        """A full disk says so, with the space left (507, as WebDAV names it); any other failure to read or write the
        data folder says which it was. Either way the engine keeps serving, and the log gets a line."""
        if disk.is_full(exc):
            message, code, status = disk.full_message(data_dir, "this request's data"), "disk_full", 507
        else:
            message, code, status = (
                f"The engine could not read or write its data folder {data_dir}: {exc}",
                "storage_error",
                500,
            )
        log.error("%s %s: %s", request.method, request.url.path, message)
        return JSONResponse(error_body(message, code=code, type="server_error"), status_code=status)


def _refuse_oversized_uploads(app: FastAPI, max_upload_bytes: int) -> None:
    @app.middleware("http")
    async def _refuse(request: Request, call_next):
        """Say no before reading the body when the declared size is already over the limit."""
        declared = request.headers.get("content-length", "")
        if request.url.path == "/v1/files" and declared.isdigit() and int(declared) > max_upload_bytes + 65536:
            return JSONResponse(
                error_body(
                    f"File is larger than the {max_upload_bytes:,}-byte limit", code="file_too_large", param="file"
                ),
                status_code=413,
            )
        return await call_next(request)
