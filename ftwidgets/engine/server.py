"""Starting the engine: ``ftw engine serve`` in a shell, `start()` in a notebook.

A Jupyter kernel's main thread already runs an event loop, where ``uvicorn.run``
fails, so `start()` runs the server in a background thread and waits until it
answers. It binds 127.0.0.1 by default and always requires a bearer key.

One engine per data folder: the engine that owns a folder holds a lock on it and
writes where it listens (``engine.json``, readable by its owner only). A second
notebook (another kernel) calling `start()` on the same folder connects to that
engine instead of starting a rival that would fight over the same jobs.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

OWNER_FILE = "engine.json"
LOCK_FILE = "engine.lock"

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
    _lock: Any = field(default=None, repr=False)

    @property
    def owned(self) -> bool:
        """True when this process runs the engine; False when it uses one another process runs."""
        return self._server is not None

    def client(self, **kwargs: Any):
        from openai import OpenAI

        return OpenAI(base_url=self.base_url, api_key=self.api_key, **kwargs)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._lock is not None:
            (self.data_dir / OWNER_FILE).unlink(missing_ok=True)
            self._lock.close()  # releases the folder for the next engine
            self._lock = None
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


def claim(data: Path):
    """Lock the data folder for this process; None when another live process holds it."""
    import fcntl

    data.mkdir(parents=True, exist_ok=True)
    fh = open(data / LOCK_FILE, "a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        return None
    return fh


def _publish(data: Path, url: str, key: str) -> None:
    path = data / OWNER_FILE
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"base_url": url, "api_key": key, "pid": os.getpid()}, fh)
    os.replace(tmp, path)


def _attach(data: Path, timeout: float) -> EngineHandle:
    """A handle on the engine another process runs on this folder (waiting for it to publish)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            owner = json.loads((data / OWNER_FILE).read_text())
            _wait_ready(owner["base_url"].removesuffix("/v1"), max(1.0, deadline - time.monotonic()))
            return EngineHandle(owner["base_url"], owner["api_key"], data)
        except (OSError, ValueError, KeyError):
            if time.monotonic() > deadline:
                raise RuntimeError(f"another process holds the engine folder {data} but does not answer; "
                                   "stop it, or use another FTW_ENGINE_DIR") from None
            time.sleep(0.2)


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
    if existing is not None and (existing._thread is None or existing._thread.is_alive()):
        return existing
    lock = claim(data)
    if lock is None:
        handle = _attach(data, timeout)
        _running[str(data)] = handle
        return handle
    key = api_key or os.environ.get("FTW_ENGINE_KEY") or "ftw-" + secrets.token_urlsafe(24)
    port = port or free_port(host)
    app = create_app(data, api_key=key, settings=EngineSettings(threads=threads, **settings))
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="ftw-engine", daemon=True)
    thread.start()
    url = f"http://{host}:{port}"
    try:
        _wait_ready(url, timeout)
    except RuntimeError:
        lock.close()
        raise
    _publish(data, url + "/v1", key)
    handle = EngineHandle(url + "/v1", key, data, server, thread, lock)
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
    lock = claim(data)
    if lock is None:
        print(f"error: another engine already runs on {data}; stop it or pass --data-dir", flush=True)
        return 1
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
    local = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    _publish(data, f"http://{local}:{port}/v1", key)  # a notebook's start() on this folder connects here
    try:
        uvicorn.run(app, host=host, port=port, log_level="info")
    finally:
        (data / OWNER_FILE).unlink(missing_ok=True)
        lock.close()
    return 0
