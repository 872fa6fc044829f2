"""Other people's schemas turned into chat examples, with every record accounted for.

Most public chat data is not OpenAI chat: ShareGPT dumps (``conversations`` of ``from``/``value`` turns), Alpaca
files (``instruction``, optional ``input``, ``output``), legacy prompt/completion records, and tables whose columns
hold the messages. `readers` reads the file, whatever its type (CSV, TSV, JSON, JSON Lines, Parquet); here its
records' schema is guessed from their keys (or named), and `convert_file` returns a `Conversion`: the examples,
plus one `Rejected` record for everything that could not be converted, with its place and the reason. Nothing is
dropped silently and nothing is guessed: a ShareGPT turn from a speaker that is not a known role is reported,
not mapped to the nearest role. A new schema is a converter and a line in `CONVERTERS` and `SCHEMAS`.

    >>> from_alpaca({"instruction": "Translate to French.", "input": "cat", "output": "chat"})["messages"][0]
    {'role': 'user', 'content': 'Translate to French.\\n\\ncat'}
    >>> from_sharegpt({"conversations": [{"from": "human", "value": "Hi"}, {"from": "bing", "value": "Hello"}]})
    Traceback (most recent call last):
    ...
    ftwidgets.data.dataset.DataError: turn 2 comes from 'bing', which is not one of human, user, gpt, assistant, system
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .dataset import DataError, Example, table_rows
from .origins import Origins
from .readers import Source, open_source

SCHEMAS = ("columns", "sharegpt", "alpaca", "prompt_completion", "chat")  # "columns": a table's named columns
SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "system": "system"}


@dataclass(frozen=True)
class Rejected:
    """A record that was not converted: its number in the file (1-based) and why."""

    record: int
    reason: str


@dataclass
class Conversion:
    schema: str
    examples: list[Example] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    places: list[int] = field(default_factory=list)  # each example's record number in the file (a JSONL: its line)
    unit: str = "line"  # "line" for JSON Lines, "record" for a table or a JSON array
    spreadsheet: bool = False  # a CSV or TSV: record n is the spreadsheet's row n + 1

    def add(self, place: int, example: Example) -> None:
        self.examples.append(example)
        self.places.append(place)

    def origins(self, source: str) -> Origins:
        """Where each converted example stands in the file, for the findings of later steps."""
        return Origins(source, self.unit, tuple(self.places), rows=self.spreadsheet)

    @property
    def records(self) -> int:
        return len(self.examples) + len(self.rejected)

    def summary(self, show: int = 20) -> str:
        """One line of counts, then the first rejected records with their reasons."""
        read_as = "table rows" if self.schema == "columns" else self.schema
        lines = [
            f"{self.records:,} record{'s' if self.records != 1 else ''} read as {read_as}: "
            f"{len(self.examples):,} converted, {len(self.rejected):,} reported"
        ]
        row = (lambda r: f" (row {r + 1})") if self.spreadsheet else (lambda r: "")
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


def table_columns(path: str | os.PathLike) -> tuple[str, ...]:
    """A table's column names (empty for a JSON file), for choosing which holds what."""
    return open_source(path).columns or ()


def _schema_by_keys(keys: set[str]) -> str | None:
    """The schema a record's keys (a table's columns) name, for every file type; None when they name none."""
    if "messages" in keys:
        return "chat"
    if "conversations" in keys:
        return "sharegpt"
    if {"instruction", "output"} <= keys:
        return "alpaca"
    return None


def detect_schema(path: str | os.PathLike | Source) -> str:
    """The schema of a file's records, from the keys of its first readable record (a table: its columns)."""
    source = path if isinstance(path, Source) else open_source(path)
    if source.is_table:  # its keys are its columns: no row is read
        return _schema_by_keys(set(source.columns)) or "columns"
    for _, record, error in source.first_records():
        if error is None and isinstance(record, Mapping):
            keys = set(record)
            if schema := _schema_by_keys(keys):
                return schema
            if {"prompt", "completion"} <= keys:
                return "prompt_completion"
            raise DataError(
                f"{source.path}: cannot tell the schema from the first record's keys {sorted(keys)}; "
                f"name it with --from ({', '.join(SCHEMAS)})"
            )
    raise DataError(f"{source.path}: no readable JSON record to tell the schema from")


def convert_file(
    path: str | os.PathLike, schema: str | None = None, *, default_system: str | None = None, **columns: Any
) -> Conversion:
    """Every record of `path` converted to a chat example or reported (see the module's docstring); ``columns``
    (``user=``, ``assistant=``, ``system=``) choose a table's columns where their names do not say."""
    source = open_source(path)
    schema = schema or detect_schema(source)
    if schema not in SCHEMAS:
        raise DataError(f"unknown schema {schema!r}: use one of {', '.join(SCHEMAS)}")
    result = Conversion(schema, unit=source.unit, spreadsheet=source.spreadsheet)
    if schema == "columns":
        if not source.is_table:
            raise DataError(f"{source.path} is not a table (CSV, TSV or Parquet): it has no columns to choose")
        rows = (record for _, record, _ in source.records())
        for n, example, reason in table_rows(source.columns, rows, default_system=default_system, **columns):
            if reason is None:
                result.add(n, example)
            else:
                result.rejected.append(Rejected(n, reason))
        return result
    convert = CONVERTERS[schema]
    for n, record, error in source.records():
        if error is not None:
            result.rejected.append(Rejected(n, f"not JSON: {error}"))
            continue
        try:
            result.add(n, convert(record, default_system))
        except DataError as exc:
            result.rejected.append(Rejected(n, str(exc)))
    return result
