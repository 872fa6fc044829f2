"""A full disk, said as a full disk: which folder's disk, and how much is left on it.

The one home of the words, so an upload, an export and anything else that writes say the same thing.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

FULL = (errno.ENOSPC, errno.EDQUOT)  # no space left, or over the user's quota


def is_full(exc: BaseException) -> bool:
    """Whether `exc` is the system saying the disk (or the quota) is full."""
    return isinstance(exc, OSError) and exc.errno in FULL


def free_bytes(folder: str | os.PathLike) -> int | None:
    """The space left on the disk holding `folder` (its nearest existing parent), or None when it cannot be read."""
    path = Path(folder)
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


def full_message(folder: str | os.PathLike, what: str) -> str:
    """A sentence for a person: ``what`` was not kept because the disk holding `folder` is full, and what is free.

    >>> full_message("/nonexistent/engine", "the upload").startswith("The disk holding /nonexistent/engine is full")
    True
    """
    free = free_bytes(folder)
    left = f" ({free / 1e6:,.0f} MB free)" if free is not None else ""
    return (
        f"The disk holding {folder} is full{left}: {what} was not kept, and nothing of it is left behind. "
        "Free some space and try again."
    )


def training_stopped(folder: str | os.PathLike) -> str:
    """A job's failure message when the disk filled while it wrote its output (the trainer and the job runner say
    the same)."""
    return "Training stopped: " + full_message(folder, "the job's output")


class DiskFull(OSError):
    """A write that failed for want of space, with `full_message`'s words (still an OSError with ENOSPC)."""

    def __init__(self, folder: str | os.PathLike, what: str):
        super().__init__(errno.ENOSPC, full_message(folder, what))

    def __str__(self) -> str:
        return self.strerror
