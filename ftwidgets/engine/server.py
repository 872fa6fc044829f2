"""Starting the engine: ``ftw engine serve`` in a shell, `start()` in a notebook.

A Jupyter kernel's main thread already runs an event loop, where ``uvicorn.run``
fails, so `start()` runs the server in a background thread and waits until it
answers. It binds 127.0.0.1 by default and always requires a bearer key.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

DEFAULT_PORT = 8765


def default_data_dir() -> Path:
    d = os.environ.get("FTW_ENGINE_DIR")
    if d:
        return Path(d).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ftwidgets" / "engine"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@dataclass
class EngineHandle:
    """A running engine: where it is, its key, and how to stop it."""

    base_url: str
    api_key: str
    data_dir: Path
    _server: Any = field(default=None, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    def client(self, **kwargs: Any):
        from openai import OpenAI

        return OpenAI(base_url=self.base_url, api_key=self.api_key, **kwargs)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        _running.pop(str(self.data_dir), None)


_running: dict[str, EngineHandle] = {}


def _wait_ready(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the engine did not answer at {url} within {timeout:.0f} s")


def start(
    data_dir: str | os.PathLike | None = None,
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    api_key: str | None = None,
    threads: int | None = None,
    timeout: float = 60,
    **settings: Any,
) -> EngineHandle:
    """Start the engine in a background thread (once per data folder) and return its handle."""
    import uvicorn

    from .app import create_app
    from .jobs import EngineSettings

    data = Path(data_dir).expanduser() if data_dir else default_data_dir()
    existing = _running.get(str(data))
    if existing is not None and existing._thread is not None and existing._thread.is_alive():
        return existing
    key = api_key or os.environ.get("FTW_ENGINE_KEY") or "ftw-" + secrets.token_urlsafe(24)
    port = port or free_port(host)
    app = create_app(data, api_key=key, settings=EngineSettings(threads=threads, **settings))
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="ftw-engine", daemon=True)
    thread.start()
    url = f"http://{host}:{port}"
    _wait_ready(url, timeout)
    handle = EngineHandle(url + "/v1", key, data, server, thread)
    _running[str(data)] = handle
    return handle


def stop_all() -> None:
    for handle in list(_running.values()):
        handle.stop()


def serve(*, host: str = "127.0.0.1", port: int = DEFAULT_PORT, data_dir: str | None = None,
          api_key: str | None = None, threads: int | None = None, base_models: list[str] | None = None) -> int:
    """Run the engine in the foreground (``ftw engine serve``) until interrupted."""
    import uvicorn

    from .app import create_app
    from .jobs import EngineSettings

    data = Path(data_dir).expanduser() if data_dir else default_data_dir()
    key = api_key or os.environ.get("FTW_ENGINE_KEY")
    if not key:
        key = "ftw-" + secrets.token_urlsafe(24)
        print(f"API key (generated; pass --api-key or FTW_ENGINE_KEY to choose one): {key}", flush=True)
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: listening on {host}, reachable from other machines; keep the key secret", flush=True)
    print(f"ftw engine: http://{host}:{port}/v1 (data in {data})", flush=True)
    settings = EngineSettings(threads=threads)
    if base_models:
        settings.base_models = (*settings.base_models, *base_models)
    app = create_app(data, api_key=key, settings=settings)
    uvicorn.run(app, host=host, port=port, log_level="info")
    return 0
