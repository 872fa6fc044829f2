"""Files that a crash or a full disk never leaves half-written, and the JSON lines they hold.

Every whole-file write is atomic (`atomic_write`, `write_json_atomic`): the old file or the new one, never half of
one. Logs are appended durably (`append_durably`) and read tolerantly (`read_log`), so a killed process costs at
most the line it was writing. A file's lines are read in constant memory with their numbers (`iter_raw_lines`),
for every message that names a line. A full disk is said as one (`disk.DiskFull`), with nothing partial left.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from . import disk

BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True, slots=True)
class RawLine:
    """One non-blank physical line of a JSONL file, still undecoded."""

    line: int  # 1-based physical line number
    index: int  # 0-based example index (blank lines are not examples)
    data: bytes
    last: bool  # the file's final line
    terminated: bool  # ended with a newline


def iter_raw_lines(path: str | os.PathLike, *, block_size: int = 1 << 20) -> Iterator[RawLine]:
    """Yield the non-blank lines of a file with their physical line numbers, in constant memory."""
    with open(path, "rb") as fh:
        lineno = 0
        index = 0
        pending: RawLine | None = None
        rest = b""
        first = True
        while True:
            block = fh.read(block_size)
            if first:
                first = False
                if block.startswith(BOM):
                    block = block[len(BOM) :]
            if not block:
                break
            block = rest + block
            parts = block.split(b"\n")
            rest = parts.pop()
            for part in parts:
                lineno += 1
                if part.endswith(b"\r"):
                    part = part[:-1]
                if not part.strip():
                    continue
                if pending is not None:
                    yield pending
                pending = RawLine(lineno, index, part, False, True)
                index += 1
        if rest:
            lineno += 1
            if rest.endswith(b"\r"):
                rest = rest[:-1]
            if rest.strip():
                if pending is not None:
                    yield pending
                pending = RawLine(lineno, index, rest, False, False)
        if pending is not None:
            yield RawLine(pending.line, pending.index, pending.data, True, pending.terminated)


def parse_json(data: bytes | str) -> Any:
    """Parse one JSON document; fall back to the stdlib for what orjson refuses (NaN, huge ints).

    A document neither accepts raises the stdlib's `json.JSONDecodeError` (its words and column).
    """
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


def dump_json(obj: Any, *, sort_keys: bool = False) -> bytes:
    """Compact JSON bytes; the stdlib takes over for what orjson refuses (integers over 64 bits)."""
    try:
        return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS if sort_keys else 0)
    except TypeError:
        return json.dumps(obj, sort_keys=sort_keys, ensure_ascii=False, separators=(",", ":"), default=str).encode()


@contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb", *, permissions: int | None = None) -> Iterator[IO]:
    """Write `path` all or nothing: a temporary file beside it replaces it in one step when the block
    ends, and is removed if the block fails, so a reader never sees half a file. The data reaches the disk
    (fsync) before the rename, and the rename before returning, so a power cut leaves the old file or the
    new one, never an empty one."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        if permissions is not None:
            os.fchmod(fd, permissions)
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8", "newline": ""})) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        _fsync_folder(target.parent)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        if disk.is_full(exc) and not isinstance(exc, disk.DiskFull):
            raise disk.DiskFull(target.parent, target.name) from None
        raise
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _fsync_folder(folder: Path) -> None:
    """Make a rename in `folder` durable (where the system allows a folder to be opened and synced)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_json_atomic(
    path: str | os.PathLike, obj: Any, *, indent: int | None = None, permissions: int | None = None
) -> None:
    """One JSON document, written all or nothing (`atomic_write`)."""
    with atomic_write(path, "w", permissions=permissions) as fh:
        json.dump(obj, fh, indent=indent, default=str)
        if indent is not None:
            fh.write("\n")


def read_log(path: str | os.PathLike) -> list[Any]:
    """Every record of an append-only JSONL log, skipping a line a crash (or a writer right now) cut short.

    Logs written with `append_durably` can at worst end in one partial line; a missing
    file is an empty log.
    """
    records = []
    try:
        for raw in iter_raw_lines(path):
            try:
                records.append(parse_json(raw.data))
            except (ValueError, UnicodeDecodeError):
                continue
    except FileNotFoundError:
        pass
    return records


def append_durably(path: str | os.PathLike, record: Any) -> None:
    """Append one JSON line and force it to disk before returning.

    For logs that must survive a killed process (evaluation answers, review clicks):
    the line is one ``write`` to a file opened for appending, then flushed and fsynced,
    so a crash can at worst cut the line being written, which readers skip. A full disk
    raises `disk.DiskFull` with the file cut back to what it was.
    """
    with open(path, "ab") as fh:
        start = fh.tell()
        try:
            fh.write(dump_json(record) + b"\n")
            fh.flush()
            os.fsync(fh.fileno())
        except OSError as exc:
            if not disk.is_full(exc):
                raise
            try:  # no half line left for the next append to run into
                fh.truncate(start)
            except OSError:
                pass
            raise disk.DiskFull(Path(path).parent, f"the line for {Path(path).name}") from None
