"""A failed notebook cell says what went wrong and what to do, not a traceback.

The workbook's own errors already say both in their message: bad data (`DataError`, with its line), a full disk
(`DiskFull`), a plan the rules refuse (`PlanBlocked`), a step's job still running, an export or a base model that
cannot be had, a checkpoint that did not pass (an ``assert`` with its message), and a backend's refusal (the
`openai` client's errors, whose message the backend wrote). For those, the cell shows the message alone; it still
fails, so a headless run (papermill, nbval) stops there as before, and ``%tb`` shows the frames for a bug report.
Any other exception keeps its full traceback: that one is a bug, and its frames are what fixes it.
"""

from __future__ import annotations

import sys
from typing import Any

# the workbook's errors whose message is written for a learner (the engine's by name: no import of the engine here)
PLAIN = {"DataError", "DiskFull", "PlanBlocked", "JobStillActive", "ExportError", "ModelUnavailable", "OpenAIEnded"}
HINT = "(The cell stopped here. %tb shows where in the code, for a bug report.)"


def plain_message(exc: BaseException) -> str | None:
    """What a learner reads for `exc`, or None when it deserves its traceback (a bug, not a condition to fix).

    >>> plain_message(AssertionError("Fewer than 100 examples: collect more before fine-tuning."))
    'Checkpoint not passed: Fewer than 100 examples: collect more before fine-tuning.'
    >>> plain_message(KeyError("x")) is None
    True
    """
    if any(k.__name__ in PLAIN and k.__module__.startswith("ftwidgets") for k in type(exc).__mro__):
        return str(exc)  # one of them, or a kind of one (preference_round.NotEnoughPairs is a DataError)
    if isinstance(exc, AssertionError) and str(exc):
        return f"Checkpoint not passed: {exc}"
    openai = sys.modules.get("openai")  # a client's error exists only where the client was imported
    if openai is None:
        return None
    if isinstance(exc, openai.APIStatusError):
        body = exc.body if isinstance(exc.body, dict) else {}
        error = body.get("error", body)  # the client passes the error object itself, or the whole body
        said = error.get("message") if isinstance(error, dict) else None
        return f"The backend refused the request ({exc.status_code}): {said or exc.message}"
    if isinstance(exc, openai.APIConnectionError):
        return f"The backend could not be reached ({exc.request.url if exc.request else 'no address'}): {exc}"
    return None


def show_errors_plainly(shell: Any) -> None:
    """From now on, this IPython `shell` shows the workbook's own errors as their message alone (`plain_message`);
    other exceptions as before (`notebook_kernel.prepare` calls it for the notebook's kernel)."""

    def shown(self, etype, value, tb, tb_offset=None):
        message = plain_message(value)
        if message is None:
            self.showtraceback((etype, value, tb), tb_offset=tb_offset)
            return None
        sys.last_type, sys.last_value, sys.last_traceback = etype, value, tb  # what %tb shows
        stb = [message, "", HINT]
        self._showtraceback(etype, value, stb)  # the cell's error output (the kernel still replies "error")
        return stb

    shell.set_custom_exc((Exception,), shown)
