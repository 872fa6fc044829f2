"""The process a ``python`` grader runs in (``python -I sandbox_child.py``): it imports nothing of this package.

It limits its own memory (address space) and CPU time, leaves the network where the platform lets a process do so
(a network namespace of its own: no interface but a loopback that is down), runs in the scratch folder it was
started in, and answers one JSON line per request on the descriptor its parent reads. A grader's own prints go to
stderr, never into the answers. The first request holds the source, which must define ``grade(sample, item)``;
each later one a sample and an item, answered with the score or the error.
"""

import ctypes
import json
import os
import resource
import socket
import sys
import traceback

CLONE_NEWUSER, CLONE_NEWNET = 0x10000000, 0x40000000


def leave_network() -> str:
    """``isolated`` in a network namespace of its own; else ``sockets refused`` (Python's sockets only)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        for flags in (CLONE_NEWNET, CLONE_NEWUSER | CLONE_NEWNET):
            if libc.unshare(flags) == 0:
                return "isolated"
    except (OSError, AttributeError):
        pass

    def refused(*_args, **_kwargs):
        raise PermissionError("a python grader has no network access")

    socket.socket = refused  # type: ignore[assignment, misc]
    socket.create_connection = refused  # type: ignore[assignment]
    return "sockets refused"


def main() -> None:
    memory_mb, cpu_s = int(sys.argv[1]), int(sys.argv[2])
    answers = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)  # the grader's prints go to stderr
    sys.stdout = sys.stderr
    network = leave_network()
    resource.setrlimit(resource.RLIMIT_AS, (memory_mb * 2**20, memory_mb * 2**20))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s))
    scope: dict = {"__name__": "grader"}
    for line in sys.stdin:
        request = json.loads(line)
        try:
            if "source" in request:
                exec(compile(request["source"], "<grader>", "exec"), scope)
                if not callable(scope.get("grade")):
                    raise NameError("the source defines no function grade(sample, item)")
                reply = {"ready": True, "network": network}
            else:
                score = scope["grade"](request["sample"], request["item"])
                if isinstance(score, bool) or not isinstance(score, (int, float)):
                    raise TypeError(f"grade returned {type(score).__name__}, not a number")
                if score != score or score in (float("inf"), float("-inf")):
                    raise ValueError(f"grade returned {score}, not a finite number")
                reply = {"score": float(score)}
        except MemoryError:
            reply = {"error": "MemoryError: the grader went over its memory limit"}
        except BaseException as exc:  # noqa: BLE001 - every failure of the grader is its answer
            last = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
            where = f" (line {last[0].lineno})" if last and last[0].filename == "<grader>" else ""
            reply = {"error": f"{type(exc).__name__}: {exc}{where}"}
        answers.write(json.dumps(reply) + "\n")


if __name__ == "__main__":
    main()
