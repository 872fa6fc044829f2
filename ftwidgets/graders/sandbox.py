"""A ``python`` grader's code runs apart: in a process of its own (`sandbox_child`), with a time limit per call, a
memory limit, no network where the platform allows, in a scratch folder that is removed afterwards.

One process serves many calls of the same grader (a test split's answers are graded in one process, not one each).
A call that runs past its limit ends the process (``unresponsive_reward_error``); a process that dies (a crash, a
killed child) is reported as ``python_grader_server_error``; an exception, a non-number or too much memory as
``python_grader_runtime_error`` with its details. The next call starts a fresh process, so the caller keeps going.
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHILD = Path(__file__).with_name("sandbox_child.py")
TIME_LIMIT_S = 5.0  # one call of grade(); the first call also pays the process's start (about 30 ms)
MEMORY_LIMIT_MB = 512
IDLE_CLOSE_S = 30.0  # a process unused this long is ended (a kernel grades in bursts and then keeps its memory)


@dataclass(frozen=True)
class PythonOutcome:
    """One call's result: the score, or which of OpenAI's error flags it raised and why."""

    score: float | None
    error: str | None = None  # python_grader_runtime_error | python_grader_server_error | unresponsive_reward_error
    details: str | None = None


class PythonSandbox:
    """The process of one python grader's source, started on the first call and again after a failure."""

    def __init__(self, source: str, *, time_limit: float = TIME_LIMIT_S, memory_mb: int = MEMORY_LIMIT_MB):
        self.source, self.time_limit, self.memory_mb = source, time_limit, memory_mb
        self.network: str | None = None
        self._proc: subprocess.Popen | None = None
        self._scratch: str | None = None
        self._lock = threading.Lock()
        self._idle: threading.Timer | None = None

    def _start(self) -> PythonOutcome | None:
        self._scratch = tempfile.mkdtemp(prefix="ftw-grader-")
        env = {"PATH": os.defpath, "HOME": self._scratch, "LANG": "C.UTF-8", "PYTHONHASHSEED": "0"}
        self._proc = subprocess.Popen(
            [sys.executable, "-I", str(CHILD), str(self.memory_mb), str(int(self.time_limit * 4) + 2)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=self._scratch,
            env=env,
            start_new_session=True,  # its own process group: a timeout ends whatever it started too
        )
        reply = self._ask({"source": self.source}, self.time_limit + 10)  # + the interpreter's start
        if reply.error is None:
            return None
        self._stop()
        return reply

    def _ask(self, request: dict[str, Any], limit: float) -> PythonOutcome:
        proc = self._proc
        assert proc is not None and proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write((json.dumps(request) + "\n").encode())
            proc.stdin.flush()
        except (BrokenPipeError, OSError):
            return self._died()
        with selectors.DefaultSelector() as wait:
            wait.register(proc.stdout, selectors.EVENT_READ)
            if not wait.select(timeout=limit):
                self._stop()
                return PythonOutcome(None, "unresponsive_reward_error", f"grade() ran past its {limit:g} s limit")
        line = proc.stdout.readline()
        if not line:
            return self._died()
        try:
            reply = json.loads(line)
        except ValueError:
            self._stop()
            return PythonOutcome(None, "python_grader_server_error", "the grader's process answered garbage")
        if "error" in reply:
            return PythonOutcome(None, "python_grader_runtime_error", reply["error"])
        if reply.get("ready"):
            self.network = reply.get("network")
            return PythonOutcome(None)
        return PythonOutcome(float(reply["score"]))

    def _died(self) -> PythonOutcome:
        code = self._proc.wait(timeout=5) if self._proc else None
        self._stop()
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exited with code {code}"
        if code == -signal.SIGXCPU:
            how = "stopped at its CPU time limit"
        return PythonOutcome(None, "python_grader_server_error", f"the grader's process {how}")

    def _stop(self) -> None:
        if self._proc is not None:
            if self._proc.poll() is None:
                try:
                    os.killpg(self._proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self._proc.wait()
            for pipe in (self._proc.stdin, self._proc.stdout):
                if pipe is not None:
                    pipe.close()
            self._proc = None
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    def grade(self, sample: dict[str, Any], item: Any) -> PythonOutcome:
        """``grade(sample, item)`` in the grader's process, within the limits."""
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._stop()
                failed = self._start()
                if failed is not None:
                    return failed
            if self._idle is not None:
                self._idle.cancel()
            outcome = self._ask({"sample": sample, "item": item}, self.time_limit)
            self._idle = threading.Timer(IDLE_CLOSE_S, self.close)
            self._idle.daemon = True
            self._idle.start()
            return outcome

    def close(self) -> None:
        with self._lock:
            self._stop()

    def __del__(self):  # a sandbox dropped without close() leaves no process behind
        try:
            self._stop()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass
