"""Chat fine-tuning data on disk: streaming JSONL, CSV/DataFrame converters, DPO pairs.

Reading is streaming and forgiving about the container (UTF-8 BOM, CRLF, blank
lines) but never about the content: judging content is `ftwidgets.data.validate`'s job.
Writing never overwrites an existing file unless asked, and never the input; every
whole-file write is atomic (`safe_files`).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..runtime.safe_files import RawLine, atomic_write, dump_json, iter_raw_lines, parse_json

Example = dict[str, Any]
"""One training example: ``{"messages": [{"role": ..., "content": ...}, ...]}``."""


class DataError(ValueError):
    """Bad input a user can fix; the message says where and how."""


def describe_json_error(exc: ValueError, line: RawLine) -> str:
    """Plain words for a line that is not JSON: where it broke, and whether it ends mid-object (truncated),
    which a cut-off last line does with or without a final newline.

    >>> raw = RawLine(3, 2, b'{"messages": [{"role": "user", "content": "Hi', True, True)
    >>> try: parse_json(raw.data)
    ... except ValueError as e: print(describe_json_error(e, raw))
    the last line is truncated (the file ends mid-object)
    """
    text = line.data.decode("utf-8", errors="replace").rstrip()
    if isinstance(exc, json.JSONDecodeError):
        ran_out = exc.msg.startswith("Unterminated string") or exc.pos >= len(text)
        detail = f"{exc.msg} column {exc.colno}" if exc.msg.endswith(" at") else f"{exc.msg} at column {exc.colno}"
    else:
        ran_out, detail = False, str(exc)
    if ran_out and line.last:
        return "the last line is truncated (the file ends mid-object)"
    return f"not valid JSON: {detail}" + (" (the line ends mid-object: cut off?)" if ran_out else "")


def read_jsonl(path: str | os.PathLike) -> Iterator[Example]:
    """Stream the examples of a valid JSONL file; a bad line raises `DataError` naming it."""
    for raw in iter_raw_lines(path):
        try:
            yield parse_json(raw.data)
        except UnicodeDecodeError as exc:
            raise DataError(f"{path}: line {raw.line}: byte {exc.start + 1} is not valid UTF-8") from None
        except ValueError as exc:
            raise DataError(f"{path}: line {raw.line}: {describe_json_error(exc, raw)}") from None


def load_jsonl(path: str | os.PathLike) -> list[Example]:
    """All examples of a file in memory (fine for the sizes a notebook splits or trains on)."""
    return list(read_jsonl(path))


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def write_jsonl(
    path: str | os.PathLike,
    examples: Iterable[Mapping[str, Any]],
    *,
    overwrite: bool = False,
    protect: Iterable[str | os.PathLike] = (),
) -> int:
    """Write examples atomically, one compact JSON object per line; return how many.

    Refuses to replace an existing file unless ``overwrite``, and always refuses to
    replace any path in ``protect`` (the inputs), so a typo never destroys data.
    """
    target = Path(path)
    for p in protect:
        if _same_file(target, Path(p)) or target.resolve() == Path(p).resolve():
            raise DataError(f"refusing to overwrite the input file {p}; choose another output path")
    if target.exists() and not overwrite:
        raise DataError(f"{target} already exists; choose another path or allow overwriting (--force)")
    count = 0
    with atomic_write(target) as fh:
        for ex in examples:
            fh.write(dump_json(ex))
            fh.write(b"\n")
            count += 1
    return count


# --- converters -------------------------------------------------------------------


def _cell(value: Any) -> str | None:
    """A DataFrame cell as text, or None when empty/NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value)
    return text if text.strip() else None


def from_dataframe(
    df,
    *,
    system: str | None = "system",
    user: str | None = None,
    assistant: str | None = None,
    default_system: str | None = None,
) -> list[Example]:
    """Build chat examples from a DataFrame.

    Columns are found by name (`guess_columns`: ``user``/``assistant``, ``prompt``/``completion``,
    ``question``/``answer`` ..., and ``system``); pass ``user=``/``assistant=`` to map other names.
    A missing column, or an empty cell where a message must be, raises `DataError` naming it
    (`ftwidgets.data.importers.convert_file` converts the other rows and reports those).
    """
    examples, empty = [], []
    for record, example, reason in dataframe_rows(
        df, system=system, user=user, assistant=assistant, default_system=default_system
    ):
        if example is None:
            empty.append(f"record {record}: {reason}")
        else:
            examples.append(example)
    if empty:
        more = f" (and {len(empty) - 3:,} more)" if len(empty) > 3 else ""
        raise DataError(
            f"{len(empty):,} row(s) cannot be examples: {'; '.join(empty[:3])}{more}. Fill them in or drop "
            "them; ftw convert converts the other rows and lists these"
        )
    return examples


# column names that say what they hold, in the order a guess tries them: a guess is made only from these
USER_COLUMNS = ("user", "prompt", "question", "input", "instruction", "query")
ANSWER_COLUMNS = ("assistant", "completion", "answer", "output", "response", "reply")


def guess_columns(columns: list[str]) -> dict[str, str | None]:
    """The columns whose names say they hold the user's message and the answer (``user``/``assistant``,
    ``prompt``/``completion``, ``question``/``answer`` ...; any case) and the system prompt (``system``); None where
    no name says so, and a person must choose: nothing is guessed from position."""
    lower = {c.strip().lower(): c for c in reversed(columns)}
    user = next((lower[n] for n in USER_COLUMNS if n in lower), None)
    assistant = next((lower[n] for n in ANSWER_COLUMNS if n in lower), None)
    if user is None or assistant is None:
        user = assistant = None
    return {"user": user, "assistant": assistant, "system": lower.get("system")}


def dataframe_rows(df, **mapping: Any) -> Iterator[tuple[int, Example | None, str | None]]:
    """`table_rows` over a DataFrame's rows."""
    columns = [str(c) for c in df.columns]
    return table_rows(columns, (dict(zip(columns, row)) for row in df.itertuples(index=False)), **mapping)


def table_rows(
    columns: Sequence[str],
    rows: Iterable[Mapping[str, Any]],
    *,
    system: str | None = "system",
    user: str | None = None,
    assistant: str | None = None,
    default_system: str | None = None,
) -> Iterator[tuple[int, Example | None, str | None]]:
    """``(record number, example, None)`` for each row that makes a chat example, ``(record number, None, why)`` for
    a row whose user or answer cell is empty or only whitespace (records count from 1, the header excluded).
    The one home of how a table's row becomes an example."""
    columns = list(columns)
    if user is None and assistant is None:
        guess = guess_columns(columns)
        user, assistant = guess["user"], guess["assistant"]
        if user is None:
            raise DataError(
                f"no column name says which holds the user's message and which the answer (columns: "
                f"{', '.join(columns)}); choose them (ftw convert --user COLUMN --assistant COLUMN; in Python "
                "user=..., assistant=...)"
            )
        if system == "system":
            system = guess["system"]
    for role, col in (("user", user), ("assistant", assistant)):
        if col is None or col not in columns:
            raise DataError(f"column {col!r} for the {role} message is not in the data; found {columns}")
    if user == assistant:
        raise DataError(f"the user's message and the answer are both column {user!r}: choose two different columns")
    system_col = system if system in columns else None
    for record, values in enumerate(rows, 1):
        texts = {"user": _cell(values[user]), "assistant": _cell(values[assistant])}
        missing = [
            f"{col!r} is empty" for role, col in (("user", user), ("assistant", assistant)) if texts[role] is None
        ]
        if missing:
            yield record, None, " and ".join(missing)
            continue
        messages = []
        sys_text = (_cell(values.get(system_col)) if system_col else None) or default_system
        if sys_text:
            messages.append({"role": "system", "content": sys_text})
        messages.append({"role": "user", "content": texts["user"]})
        messages.append({"role": "assistant", "content": texts["assistant"]})
        yield record, {"messages": messages}, None


def read_csv_table(path: str | os.PathLike, sep: str = ",", nrows: int | None = None):
    """A CSV (or, with ``sep="\\t"``, a TSV) as a DataFrame of text (empty cells as ""), its first `nrows` rows only
    when given (0: the header alone); an unreadable file raises `DataError`."""
    import pandas as pd

    kind = "TSV" if sep == "\t" else "CSV"
    try:
        return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, encoding="utf-8-sig", nrows=nrows)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"could not read {path} as {kind}: {exc}") from None


def from_csv(path: str | os.PathLike, **mapping: Any) -> list[Example]:
    """Read a CSV and convert it with `from_dataframe`; unreadable files raise `DataError`."""
    return from_dataframe(read_csv_table(path), **mapping)


def to_dataframe(examples: Iterable[Mapping[str, Any]]):
    """One row per example with its system, first user and last assistant text (for display)."""
    import pandas as pd

    rows = []
    for ex in examples:
        msgs = ex.get("messages") or []
        rows.append(
            {
                "system": next((m.get("content") for m in msgs if m.get("role") == "system"), None),
                "user": next((m.get("content") for m in msgs if m.get("role") == "user"), None),
                "assistant": next((m.get("content") for m in reversed(msgs) if m.get("role") == "assistant"), None),
                "turns": len(msgs),
            }
        )
    return pd.DataFrame(rows, columns=["system", "user", "assistant", "turns"])


# --- DPO preference format ---------------------------------------------------------


def make_preference(prompt_messages: list[Mapping[str, Any]], preferred: str, non_preferred: str) -> Example:
    """One OpenAI DPO record: the prompt, the better answer and the worse one."""
    return {
        "input": {"messages": [dict(m) for m in prompt_messages]},
        "preferred_output": [{"role": "assistant", "content": preferred}],
        "non_preferred_output": [{"role": "assistant", "content": non_preferred}],
    }


def check_preference(record: Any) -> list[str]:
    """Problems with one DPO record, as plain sentences (empty when it is well formed)."""
    problems: list[str] = []
    if not isinstance(record, dict):
        return ["a preference record must be a JSON object"]
    inp = record.get("input")
    msgs = inp.get("messages") if isinstance(inp, dict) else None
    if not isinstance(msgs, list) or not msgs:
        problems.append("'input' must be an object with a non-empty 'messages' list")
    elif not (isinstance(msgs[-1], dict) and msgs[-1].get("role") == "user"):
        problems.append("the last input message must be from the user")
    for key in ("preferred_output", "non_preferred_output"):
        out = record.get(key)
        if not (
            isinstance(out, list)
            and len(out) == 1
            and isinstance(out[0], dict)
            and out[0].get("role") == "assistant"
            and isinstance(out[0].get("content"), str)
            and out[0]["content"].strip()
        ):
            problems.append(f"'{key}' must be a list holding one assistant message with text")
    if not problems and record["preferred_output"][0]["content"] == record["non_preferred_output"][0]["content"]:
        problems.append("the preferred and non-preferred answers are identical")
    return problems


def read_preferences(path: str | os.PathLike) -> Iterator[Example]:
    """Stream DPO records, raising `DataError` with the line of the first malformed one."""
    for raw in iter_raw_lines(path):
        try:
            record = parse_json(raw.data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise DataError(f"{path}: line {raw.line} is not valid JSON: {exc}") from None
        problems = check_preference(record)
        if problems:
            raise DataError(f"{path}: line {raw.line}: " + "; ".join(problems))
        yield record


def write_preferences(path: str | os.PathLike, records: Iterable[Mapping[str, Any]], **kw: Any) -> int:
    """Write DPO records after checking each one."""
    checked = []
    for i, rec in enumerate(records):
        problems = check_preference(rec)
        if problems:
            raise DataError(f"preference record {i}: " + "; ".join(problems))
        checked.append(rec)
    return write_jsonl(path, checked, **kw)
