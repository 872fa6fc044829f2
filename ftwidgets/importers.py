"""Other people's data formats turned into chat examples, with every record accounted for.

Most public chat data is not OpenAI chat JSONL: ShareGPT dumps (``conversations`` of
``from``/``value`` turns), Alpaca files (``instruction``, optional ``input``, ``output``),
legacy prompt/completion JSONL, and spreadsheets. `convert_file` reads any of them (the
format detected from the file, or forced), and returns a `Conversion`: the examples, plus
one `Rejected` record for everything that could not be converted, with its record number
and the reason. Nothing is dropped silently and nothing is guessed: a ShareGPT turn from a
speaker that is not a known role is reported, not mapped to the nearest role.

    >>> from_alpaca({"instruction": "Translate to French.", "input": "cat", "output": "chat"})["messages"][0]
    {'role': 'user', 'content': 'Translate to French.\\n\\ncat'}
    >>> from_sharegpt({"conversations": [{"from": "human", "value": "Hi"}, {"from": "bing", "value": "Hello"}]})
    Traceback (most recent call last):
    ...
    ftwidgets.dataset.DataError: turn 2 comes from 'bing', which is not one of human, user, gpt, assistant, system
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .dataset import DataError, Example, dataframe_rows, describe_json_error, read_csv_table
from .origins import Origins
from .safe_files import iter_raw_lines, parse_json

FORMATS = ("csv", "sharegpt", "alpaca", "prompt_completion", "chat")
SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "system": "system"}


@dataclass(frozen=True)
class Rejected:
    """A record that was not converted: its number in the file (1-based) and why."""

    record: int
    reason: str


@dataclass
class Conversion:
    format: str
    examples: list[Example] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    places: list[int] = field(default_factory=list)  # each example's record number in the file (a JSONL: its line)
    unit: str = "line"  # "line" for JSONL, "record" for a CSV or a JSON array

    def add(self, place: int, example: Example) -> None:
        self.examples.append(example)
        self.places.append(place)

    def origins(self, source: str) -> Origins:
        """Where each converted example stands in the file, for the findings of later steps."""
        return Origins(source, self.unit, tuple(self.places), rows=self.format == "csv")

    @property
    def records(self) -> int:
        return len(self.examples) + len(self.rejected)

    def summary(self, show: int = 20) -> str:
        """One line of counts, then the first rejected records with their reasons."""
        lines = [
            f"{self.records:,} record{'s' if self.records != 1 else ''} read as {self.format}: "
            f"{len(self.examples):,} converted, {len(self.rejected):,} reported"
        ]
        row = (lambda r: f" (row {r + 1})") if self.format == "csv" else (lambda r: "")
        lines += [f"  {self.unit} {r.record}{row(r.record)}: {r.reason}" for r in self.rejected[:show]]
        if len(self.rejected) > show:
            lines.append(f"  ... and {len(self.rejected) - show:,} more")
        return "\n".join(lines)


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise DataError(f"{what} is {type(value).__name__}, not text")
    if not value.strip():
        raise DataError(f"{what} is empty")
    return value


def _with_system(messages: list[dict[str, str]], system: str | None) -> Example:
    if system and not any(m["role"] == "system" for m in messages):
        messages = [{"role": "system", "content": system}, *messages]
    return {"messages": messages}


def _own_system(record: Mapping[str, Any]) -> str | None:
    """A record's own system prompt (ShareGPT and Alpaca dumps sometimes carry a ``system`` field)."""
    return record["system"] if isinstance(record.get("system"), str) else None


def from_sharegpt(record: Mapping[str, Any], default_system: str | None = None) -> Example:
    """One ShareGPT conversation as a chat example; `DataError` says what is wrong with it."""
    turns = record.get("conversations") if isinstance(record, Mapping) else None
    if not isinstance(turns, list):
        raise DataError("no 'conversations' list of turns")
    if not turns:
        raise DataError("its 'conversations' list is empty")
    messages = []
    for n, turn in enumerate(turns, 1):
        if not isinstance(turn, Mapping) or "from" not in turn or "value" not in turn:
            raise DataError(f"turn {n} is not a {{'from': ..., 'value': ...}} object")
        role = SHAREGPT_ROLES.get(str(turn["from"]).strip().lower())
        if role is None:
            raise DataError(f"turn {n} comes from {turn['from']!r}, which is not one of {', '.join(SHAREGPT_ROLES)}")
        messages.append({"role": role, "content": _text(turn["value"], f"turn {n}'s value")})
    if not any(m["role"] == "assistant" for m in messages):
        raise DataError("no turn from gpt: nothing for the model to learn")
    if messages[-1]["role"] != "assistant":
        raise DataError(f"the conversation ends with a turn from {turns[-1]['from']!r}, not from gpt")
    return _with_system(messages, default_system or _own_system(record))


def from_alpaca(record: Mapping[str, Any], default_system: str | None = None) -> Example:
    """One Alpaca record (instruction, optional input, output) as a chat example."""
    if not isinstance(record, Mapping):
        raise DataError(f"a {type(record).__name__}, not an object with 'instruction' and 'output'")
    for key in ("instruction", "output"):
        if key not in record:
            raise DataError(f"no {key!r}")
    user = _text(record["instruction"], "'instruction'")
    extra = record.get("input")
    if extra not in (None, ""):
        user = f"{user}\n\n{_text(extra, repr('input'))}"
    messages = [
        {"role": "user", "content": user},
        {"role": "assistant", "content": _text(record["output"], "'output'")},
    ]
    return _with_system(messages, default_system or _own_system(record))


def from_prompt_completion(record: Mapping[str, Any], default_system: str | None = None) -> Example:
    """One legacy prompt/completion record as a chat example (surrounding whitespace trimmed)."""
    if not isinstance(record, Mapping) or "prompt" not in record or "completion" not in record:
        raise DataError("not an object with 'prompt' and 'completion'")
    messages = [
        {"role": "user", "content": _text(record["prompt"], "'prompt'").strip()},
        {"role": "assistant", "content": _text(record["completion"], "'completion'").strip()},
    ]
    return _with_system(messages, default_system)


def from_chat(record: Mapping[str, Any], default_system: str | None = None) -> Example:
    """A chat example passed through (`ftw validate` checks it in depth afterwards)."""
    if not isinstance(record, Mapping) or not isinstance(record.get("messages"), list):
        raise DataError("no 'messages' list")
    return dict(record) if not default_system else {**record, **_with_system(list(record["messages"]), default_system)}


CONVERTERS: dict[str, Callable[..., Example]] = {
    "sharegpt": from_sharegpt,
    "alpaca": from_alpaca,
    "prompt_completion": from_prompt_completion,
    "chat": from_chat,
}


def read_records(path: str | os.PathLike) -> Iterator[tuple[int, Any, str | None]]:
    """``(record number, record, error)`` for a JSON array file or a JSONL file; an unreadable record
    comes with its error instead (a JSONL line that is not JSON; the record number is the line)."""
    path = Path(path)
    if _is_json_array(path):
        data = path.read_bytes()
        try:
            records = parse_json(data)
        except (ValueError, UnicodeDecodeError):
            yield from _array_records(path, data)
            return
        for n, record in enumerate(records, 1):
            yield n, record, None
        return
    for raw in iter_raw_lines(path):
        try:
            yield raw.line, parse_json(raw.data), None
        except UnicodeDecodeError as exc:
            yield raw.line, None, f"byte {exc.start + 1} is not valid UTF-8"
        except ValueError as exc:
            yield raw.line, None, describe_json_error(exc, raw)


def csv_columns(path: str | os.PathLike) -> list[str]:
    """The column names of a CSV file (its header), for choosing which holds what."""
    import pandas as pd

    try:
        return [str(c) for c in pd.read_csv(path, nrows=0, dtype=str, encoding="utf-8-sig").columns]
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"could not read {path} as CSV: {exc}") from None


def _csv_conversion(path: Path, default_system: str | None, **mapping: Any) -> Conversion:
    """Every row of a CSV converted or reported, with the mapping given or the one the column names say."""
    result = Conversion("csv", unit="record")
    for record, example, reason in dataframe_rows(read_csv_table(path), default_system=default_system, **mapping):
        if example is None:
            result.rejected.append(Rejected(record, reason))
        else:
            result.add(record, example)
    return result


def _is_json_array(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"[")


def _array_records(path: Path, data: bytes) -> Iterator[tuple[int, Any, str | None]]:
    """A JSON array read one record at a time: for the format, the first record without parsing the rest;
    for an array that does not parse as a whole (a dump cut short by a download, a stray character), every
    record before the break, then the break itself as an unreadable record saying where it is, since
    nothing after it can be told apart."""
    import json

    skip_space = json.decoder.WHITESPACE.match  # JSON's own whitespace, as its decoder skips it
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: byte {exc.start + 1} is not valid UTF-8") from None
    decoder, n = json.JSONDecoder(), 0
    pos = skip_space(text, text.index("[") + 1).end()
    if text.startswith("]", pos):
        return
    line, counted = 1, 0  # the line `pos` is on, counted incrementally (a dump can be 100 MB)
    while True:
        n += 1
        line, counted = line + text.count("\n", counted, pos), pos
        try:
            record, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            cut_short = exc.pos >= len(text.rstrip()) or exc.msg.startswith(
                "Unterminated string"
            )  # no closing quote before the end
            why = (
                f"the file ends inside this record, which starts on line {line} (cut short?)"
                if cut_short
                else f"{exc.msg} on line {exc.lineno} (the record starts on line {line})"
            )
            yield n, None, f"{why}; nothing after it can be read"
            return
        yield n, record, None
        pos = skip_space(text, end).end()
        if text.startswith(",", pos):
            pos = skip_space(text, pos + 1).end()
        elif text.startswith("]", pos):
            return
        else:
            yield (
                n + 1,
                None,
                (
                    f"the file ends after record {n} without the closing ']' (cut short?)"
                    if pos >= len(text)
                    else f"line {text.count(chr(10), 0, pos) + 1} has neither ',' nor ']' after record {n}; "
                    f"nothing after it can be read"
                ),
            )
            return


def detect_format(path: str | os.PathLike) -> str:
    """The format of a file, from its extension (CSV) or the keys of its first readable record."""
    path = Path(path)
    if path.suffix.lower() in (".csv", ".tsv"):
        return "csv"
    # only the first readable record is needed: a JSON array is not parsed as a whole here (convert_file does that once)
    records = _array_records(path, path.read_bytes()) if _is_json_array(path) else read_records(path)
    for _, record, error in records:
        if error is None and isinstance(record, Mapping):
            keys = set(record)
            if "messages" in keys:
                return "chat"
            if "conversations" in keys:
                return "sharegpt"
            if {"instruction", "output"} <= keys:
                return "alpaca"
            if {"prompt", "completion"} <= keys:
                return "prompt_completion"
            raise DataError(
                f"{path}: cannot tell the format from the first record's keys {sorted(keys)}; "
                f"name it with --from ({', '.join(FORMATS)})"
            )
    raise DataError(f"{path}: no readable JSON record to tell the format from")


def convert_file(
    path: str | os.PathLike, fmt: str | None = None, *, default_system: str | None = None, **csv_mapping: Any
) -> Conversion:
    """Every record of `path` converted to a chat example or reported (see the module's docstring)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    fmt = fmt or detect_format(path)
    if fmt not in FORMATS:
        raise DataError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
    if fmt == "csv":
        return _csv_conversion(path, default_system, **csv_mapping)
    convert, result = CONVERTERS[fmt], Conversion(fmt, unit="record" if _is_json_array(path) else "line")
    for n, record, error in read_records(path):
        if error is not None:
            result.rejected.append(Rejected(n, f"not JSON: {error}"))
            continue
        try:
            result.add(n, convert(record, default_system))
        except DataError as exc:
            result.rejected.append(Rejected(n, str(exc)))
    return result
