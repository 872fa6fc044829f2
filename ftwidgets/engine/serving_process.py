"""The chat models' own process: started by the first chat request, ended when the models are released.

Importing torch, transformers and PEFT costs a process about 260 MB of private memory that no release hands back. An
engine that loaded the models itself held 0.46 GB for the rest of a learner's session once it had answered step 5,
while lesson 07 trained beside six open kernels. Here the models live in a child process of the engine
(``python -m ftwidgets.engine.serving_process``), which exits when `serving.Generator` releases them (before a
trainer starts, or after a while without a request): everything goes back, and the engine stays torch-free.

The contract between the two is one pickled message at a time over the child's stdin and stdout: the engine sends
``("generate", [request fields...])`` or ``("stop", None)``; the child answers ``("piece", text)`` for a stream (None
at its end) and ``("answer", (place, GenResult))`` for each request as soon as it is done, then ``("done", None)``,
or ``("error", exception)``.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from collections.abc import Callable
from dataclasses import fields
from typing import Any, BinaryIO

STOP_WAIT_S = 10.0  # how long the child gets to exit after "stop" before it is killed


class ModelProcessEnded(RuntimeError):
    """The chat models' process ended in the middle of a batch (killed, out of memory); the next request starts
    another."""


def _send(stream: BinaryIO, message: tuple[str, Any]) -> None:
    pickle.dump(message, stream, protocol=pickle.HIGHEST_PROTOCOL)
    stream.flush()


def _fields(request) -> dict[str, Any]:
    """A request as the child rebuilds it: every field but the engine's own future and piece queue."""
    return {f.name: getattr(request, f.name) for f in fields(request) if f.name not in ("future", "pieces")}


class ModelProcess:
    """The engine's handle on the child: start on demand, one batch at a time, stop to give all its memory back.
    Used from the generator's worker thread only."""

    def __init__(self, threads: int | None, cpu_bf16: bool, max_adapters: int, max_rows: int, max_tokens: int):
        self.settings = {
            "threads": threads,
            "cpu_bf16": cpu_bf16,
            "max_adapters": max_adapters,
            "max_rows": max_rows,
            "max_tokens": max_tokens,
        }
        self._proc: subprocess.Popen | None = None
        self.started = 0  # how many children have been started (for tests)

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self.alive else None

    def _start(self) -> subprocess.Popen:
        if not self.alive:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "ftwidgets.engine.serving_process", json.dumps(self.settings)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )  # stderr: the engine's own (its log)
            self.started += 1
        return self._proc

    def generate(self, batch: list, on_answer: Callable[[int, Any], None]) -> list:
        """The batch's answers (GenResult each), each also handed to `on_answer` with its place in `batch` as soon
        as it comes; a stream's pieces go onto its request's queue as they come."""
        proc = self._start()
        self._tell(proc, ("generate", [_fields(r) for r in batch]))
        answers: list = [None] * len(batch)
        while True:
            kind, value = self._hear(proc)
            if kind == "piece":
                batch[0].pieces.put(value)
            elif kind == "answer":
                k, answers[k] = value
                on_answer(k, answers[k])
            elif kind == "done":
                return answers
            else:
                raise value

    def _tell(self, proc: subprocess.Popen, message: tuple[str, Any]) -> None:
        try:
            _send(proc.stdin, message)
        except OSError:
            self._ended(proc)

    def _hear(self, proc: subprocess.Popen) -> tuple[str, Any]:
        try:
            return pickle.load(proc.stdout)
        except (EOFError, OSError, pickle.UnpicklingError):
            self._ended(proc)

    def _ended(self, proc: subprocess.Popen):
        code = proc.wait()
        self._proc = None
        raise ModelProcessEnded(
            f"the chat models' process ended while answering (exit code {code}); the next request starts it again"
        ) from None

    def stop(self) -> None:
        """End the child, and with it every byte the models held (it has exited when this returns)."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            try:
                _send(proc.stdin, ("stop", None))
                proc.wait(timeout=STOP_WAIT_S)
            except (OSError, subprocess.TimeoutExpired):
                proc.kill()
                proc.wait()
        self._proc = None


class _Pieces:
    """A stream's piece queue on the child's side: each piece goes to the engine at once."""

    def __init__(self, out: BinaryIO):
        self.out = out

    def put(self, piece: str | None) -> None:
        _send(self.out, ("piece", piece))


def _picklable(exc: Exception) -> Exception:
    """The exception itself where it survives the trip (the engine maps some to HTTP errors), else its text."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001 - any failure to round-trip means: send the text
        return RuntimeError(f"{type(exc).__name__}: {exc}")


def main(argv: list[str] | None = None) -> int:
    """The child: answer batches until told to stop or until the engine goes away (its stdin closes)."""
    from ..runtime.machine import return_freed_memory
    from .chat_models import ChatModels
    from .serving_types import GenRequest

    settings = json.loads((argv or sys.argv[1:])[0])
    out = os.fdopen(os.dup(1), "wb")  # the pipe to the engine is ours alone:
    os.dup2(2, 1)  # anything a library prints goes to the engine's log instead
    inp = sys.stdin.buffer
    chat_models = ChatModels(**settings)
    while True:
        try:
            kind, value = pickle.load(inp)
        except EOFError:
            return 0
        if kind == "stop":
            return 0
        batch = [GenRequest(**request) for request in value]
        if batch[0].stream:
            batch[0].pieces = _Pieces(out)
        try:
            chat_models.generate(batch, lambda k, result: _send(out, ("answer", (k, result))))
            _send(out, ("done", None))
        except Exception as exc:  # noqa: BLE001 - every waiting request learns why
            _send(out, ("error", _picklable(exc)))
        finally:
            return_freed_memory()  # a batch's activations and cache go back to the system, not just to malloc


if __name__ == "__main__":
    code = main()
    sys.stderr.flush()
    os._exit(code)  # at once: an interpreter's teardown with torch loaded takes seconds, holding all its memory
