"""Starting the engine: ``ftw engine serve`` in a shell, `ensure_process()` for notebooks, `start()` in-process.

Notebooks use `ensure_process()` (through ``ftwidgets.client("engine")``): the engine,
its job runner and its chat model run in a process of their own, so every notebook
kernel stays small (no torch) and six open kernels share one model. That process
lives while a notebook that attached to it lives, or a job runs, and exits a little
after the last one ends (``--exit-when-unused``). `start()` runs the server in a
background thread of the calling process instead (tests, scripts); a Jupyter kernel's
main thread already runs an event loop, where ``uvicorn.run`` fails. The engine binds
127.0.0.1 by default and always requires a bearer key.

One engine per data folder: the engine that owns a folder holds a lock on it and
writes where it listens (``engine.json``, readable by its owner only). A second
notebook (another kernel) calling `start()` on the same folder connects to that
engine instead of starting a rival that would fight over the same jobs.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..runtime.machine import lean_allocator_env
from ..runtime.safe_files import write_json_atomic

log = logging.getLogger(__name__)

OWNER_FILE = "engine.json"
LOCK_FILE = "engine.lock"
LOG_FILE = "engine.log"
CLIENTS_DIR = "clients"  # one empty file per process (notebook kernel) that attached, named by its pid
# an engine started for notebooks exits this long after its last notebook and job end (FTW_ENGINE_UNUSED_GRACE_S):
# long enough for the next notebook of a headless run to attach
UNUSED_GRACE_S = 20.0

DEFAULT_PORT = 8765


def default_data_dir() -> Path:
    d = os.environ.get("FTW_ENGINE_DIR")
    if d:
        return Path(d).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ftwidgets" / "engine"


def data_folder(data_dir: str | os.PathLike | None = None) -> Path:
    """The engine's data folder: the one asked for, else `default_data_dir` (every entry point resolves it here)."""
    return Path(data_dir).expanduser() if data_dir else default_data_dir()


def given_key(api_key: str | None = None) -> str | None:
    """The key clients must send, as chosen: the one asked for, else ``FTW_ENGINE_KEY``; None when nobody chose."""
    return api_key or os.environ.get("FTW_ENGINE_KEY") or None


def new_key() -> str:
    return "ftw-" + secrets.token_urlsafe(24)


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
        try:  # the standard library, so the package needs no HTTP stack of its own beside the client's
            with urllib.request.urlopen(url + "/health", timeout=1) as answer:
                if answer.status == 200:
                    return
        except (OSError, ValueError):  # not listening yet (URLError is an OSError), or a half-started answer
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
    owner = {"base_url": url, "api_key": key, "pid": os.getpid()}
    write_json_atomic(data / OWNER_FILE, owner, permissions=0o600)  # the key: readable by its owner only


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
                raise RuntimeError(
                    f"another process holds the engine folder {data} but does not answer; "
                    "stop it, or use another FTW_ENGINE_DIR"
                ) from None
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
    from .settings import EngineSettings, python_graders_allowed

    data = data_folder(data_dir)
    existing = _running.get(str(data))
    if existing is not None and (existing._thread is None or existing._thread.is_alive()):
        return existing
    lock = claim(data)
    if lock is None:
        handle = _attach(data, timeout)
        _running[str(data)] = handle
        return handle
    key = given_key(api_key) or new_key()
    port = port or free_port(host)
    settings.setdefault("python_graders", python_graders_allowed(host))
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


def register_client(data: Path, pid: int | None = None) -> None:
    """Mark a process (by default this one) as using the engine of `data`: it stays up while that process lives."""
    folder = data / CLIENTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    (folder / str(pid or os.getpid())).touch()


def live_clients(data: Path) -> list[int]:
    """The pids of the processes using the engine of `data` that still run (the others are forgotten)."""
    alive = []
    for entry in (data / CLIENTS_DIR).glob("*"):
        try:
            os.kill(int(entry.name), 0)
            alive.append(int(entry.name))
        except ProcessLookupError:
            entry.unlink(missing_ok=True)
        except (ValueError, PermissionError):  # not a pid, or a live process of another user
            pass
    return alive


def _exit_when_unused(server, data: Path, every: float = 2.0) -> None:
    """Stop `server` once no client lives and no job is active for `UNUSED_GRACE_S` seconds."""
    from .store import Store

    store = Store(data)
    grace = float(os.environ.get("FTW_ENGINE_UNUSED_GRACE_S", UNUSED_GRACE_S))
    last_used = time.monotonic()
    while not server.should_exit:
        time.sleep(every)
        try:
            if live_clients(data) or any(True for _ in store.iter_active_jobs()):
                last_used = time.monotonic()
        except OSError:  # the data folder went away: nothing left to serve
            server.should_exit = True
        if time.monotonic() - last_used > grace:
            log.info("no notebook uses this engine and no job runs: stopping (%s)", data)
            server.should_exit = True


def _log_tail(data: Path, lines: int = 15) -> str:
    try:
        return "\n".join((data / LOG_FILE).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def ensure_process(
    data_dir: str | os.PathLike | None = None, *, api_key: str | None = None, timeout: float = 120
) -> EngineHandle:
    """The engine of a data folder as a process of its own: the one running there, or one started now.

    This process is registered as a client, so the engine lives while it does. Its output
    goes to ``engine.log`` in the data folder.
    """
    data = data_folder(data_dir)
    data.mkdir(parents=True, exist_ok=True)
    register_client(data)
    lock = claim(data)
    if lock is None:  # an engine runs there already: use it
        return _attach(data, timeout)
    lock.close()  # free: the new process claims it (if a rival claims it first, we attach to the rival)
    key = given_key(api_key) or new_key()
    command = [
        sys.executable,
        "-m",
        "ftwidgets.cli",
        "engine",
        "serve",
        "--data-dir",
        str(data),
        "--port",
        str(free_port()),
        "--exit-when-unused",
    ]
    with open(data / LOG_FILE, "ab") as log:
        proc = subprocess.Popen(
            command,
            env={**lean_allocator_env(), "FTW_ENGINE_KEY": key},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:  # it stopped: a rival engine took the folder, or it failed
            try:
                return _attach(data, 5)
            except RuntimeError:
                raise RuntimeError(
                    f"the engine did not start (exit {proc.returncode}); its log:\n{_log_tail(data)}"
                ) from None
        try:
            owner = json.loads((data / OWNER_FILE).read_text())
            if owner.get("pid") == proc.pid:
                _wait_ready(owner["base_url"].removesuffix("/v1"), max(1.0, deadline - time.monotonic()))
                return EngineHandle(owner["base_url"], owner["api_key"], data)
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.2)
    proc.terminate()
    raise RuntimeError(f"the engine did not answer within {timeout:.0f} s; its log:\n{_log_tail(data)}")


def engine_pid(data_dir: str | os.PathLike | None = None) -> int | None:
    """The pid of the engine process that serves a data folder, if one published itself there."""
    data = data_folder(data_dir)
    try:
        return int(json.loads((data / OWNER_FILE).read_text())["pid"])
    except (OSError, ValueError, KeyError):
        return None


def stop_process(data_dir: str | os.PathLike | None = None, timeout: float = 30) -> bool:
    """Stop the engine process of a data folder (``ftw engine stop``); True if one was running."""
    pid = engine_pid(data_dir)
    if pid is None:
        return False
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.2)
    return True


def _alive(pid: int) -> bool:
    """Whether a process still runs: one that has ended but is not yet reaped (a zombie: the engine a notebook's
    kernel started, stopped from that kernel) has ended."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True  # no /proc (not Linux): the signal check above is all there is


def stop_all() -> None:
    for handle in list(_running.values()):
        handle.stop()


def serve(
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    data_dir: str | None = None,
    api_key: str | None = None,
    threads: int | None = None,
    base_models: list[str] | None = None,
    exit_when_unused: bool = False,
    train_processes: int | None = None,
    allow_python_graders: bool = False,
) -> int:
    """Run the engine in the foreground (``ftw engine serve``) until interrupted, or, with
    `exit_when_unused`, until no attached notebook lives and no job runs."""
    import uvicorn

    from .app import create_app
    from .settings import LOOPBACK, EngineSettings, python_graders_allowed

    data = data_folder(data_dir)
    lock = claim(data)
    if lock is None:
        print(f"error: another engine already runs on {data}; stop it or pass --data-dir", flush=True)
        return 1
    key = given_key(api_key)
    if not key:
        key = new_key()
        print(f"API key (generated; pass --api-key or FTW_ENGINE_KEY to choose one): {key}", flush=True)
    if host not in LOOPBACK:
        print(f"warning: listening on {host}, reachable from other machines; keep the key secret", flush=True)
    print(f"ftw engine: http://{host}:{port}/v1 (data in {data})", flush=True)
    if train_processes is not None and train_processes < 1:
        print(f"error: --train-processes must be 1 or more, not {train_processes}", flush=True)
        return 2
    try:
        options = {} if train_processes is None else {"train_processes": train_processes}
        settings = EngineSettings(threads=threads, **options)
    except ValueError as exc:  # FTW_TRAIN_PROCESSES is not a number of processes
        print(f"error: {exc}", flush=True)
        return 2
    if base_models:
        settings.base_models = (*settings.base_models, *base_models)
    settings.python_graders = python_graders_allowed(host, allow_python_graders)
    app = create_app(data, api_key=key, settings=settings)
    local = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    _publish(data, f"http://{local}:{port}/v1", key)  # a notebook's start() on this folder connects here
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="info"))
    if exit_when_unused:
        threading.Thread(target=_exit_when_unused, args=(server, data), name="ftw-lifetime", daemon=True).start()
    try:
        server.run()
    finally:
        (data / OWNER_FILE).unlink(missing_ok=True)
        lock.close()
    return 0
