"""A learner's file read as numbered records, one reader per file type; what a record means is `importers`' work.

As in HF `datasets`, the container and the schema are chosen apart: a reader knows CSV, TSV, JSON, JSON Lines or
Parquet and yields ``(place, record, error)``, the place counted as the learner will look for it (a JSONL's line, a
JSON array's or a table's record, from 1), the record (a table's row as ``{column: value}``, an empty cell as None)
or, when it cannot be read, None and why. A new file type is one reader here and its suffix in `READERS`.

    >>> sorted(READERS)
    ['.csv', '.json', '.jsonl', '.parquet', '.tsv']
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..runtime.safe_files import iter_raw_lines, parse_json
from .dataset import DataError, describe_json_error, read_csv_table

Place = tuple[int, Any, "str | None"]


@dataclass(frozen=True)
class Source:
    """A file opened by its reader: how its places are counted, a table's columns, and its records."""

    path: Path
    unit: str  # "line" (JSON Lines) or "record" (a JSON array, a table's rows)
    records: Callable[[], Iterator[Place]]
    first_records: Callable[[], Iterator[Place]]  # the same records, read only as far as asked (a schema's guess)
    columns: tuple[str, ...] | None = None  # a table's column names; None for JSON
    spreadsheet: bool = False  # CSV and TSV: record n is the spreadsheet's row n + 1, under the header

    @property
    def is_table(self) -> bool:
        return self.columns is not None


def read_json(path: Path) -> Source:
    """A JSON array or JSON Lines, told apart by the first character (a ``.json`` file is often JSON Lines)."""
    if _is_json_array(path):
        return Source(path, "record", lambda: _json_array(path), lambda: _array_records(path, path.read_bytes()))
    return Source(path, "line", lambda: _json_lines(path), lambda: _json_lines(path))


def json_records(path: str | os.PathLike) -> Iterator[Place]:
    """Every record of a JSON array or JSON Lines file, an unreadable one with its error."""
    return read_json(Path(path)).records()


def read_csv(path: Path, sep: str = ",") -> Source:
    """A CSV with a header row, every cell read as text; the columns from the header alone, the rows when asked."""
    header = read_csv_table(path, sep=sep, nrows=0).columns
    return _table(path, header, lambda: read_csv_table(path, sep=sep), spreadsheet=True)


def read_tsv(path: Path) -> Source:
    return read_csv(path, sep="\t")


def read_parquet(path: Path) -> Source:
    """A Parquet file's flat columns, through fastparquet (pyarrow would cost every kernel that imports pandas
    about 20 MB, since pandas imports it eagerly when it is installed); the columns from its metadata, the rows when
    asked."""

    def unreadable(exc: Exception) -> DataError:
        return DataError(f"could not read {path} as Parquet: {type(exc).__name__}: {exc}")

    try:
        parquet = fastparquet().ParquetFile(str(path))
        nested = [child.name for child in parquet.schema.root.children.values() if child.num_children]
    except Exception as exc:  # fastparquet's errors have no common base: a damaged file can raise many kinds
        raise unreadable(exc) from None
    if nested:
        raise DataError(
            f"{path}: column {nested[0]!r} is nested (a list or a struct), which this reader cannot read; save the "
            f"data as JSON Lines instead (with HF datasets: dataset.to_json('{path.stem}.jsonl'))"
        )

    def frame():
        try:
            return parquet.to_pandas()
        except Exception as exc:  # as above
            raise unreadable(exc) from None

    return _table(path, parquet.columns, frame, spreadsheet=False)


def fastparquet():
    """fastparquet, imported when a Parquet file is first read; its import asks pandas about an option pandas 3
    deprecates, a warning that is not the learner's business."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The 'future.infer_string' option")
        import fastparquet

    return fastparquet


READERS: dict[str, Callable[[Path], Source]] = {
    ".jsonl": read_json,
    ".json": read_json,
    ".csv": read_csv,
    ".tsv": read_tsv,
    ".parquet": read_parquet,
}


def open_source(path: str | os.PathLike) -> Source:
    """`path` through the reader its suffix names; any other suffix is read as JSON (a ``.txt`` of JSON Lines)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    return READERS.get(path.suffix.lower(), read_json)(path)


# --- tables ---------------------------------------------------------------------------------------


def _cell(value: Any) -> Any:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def _table(path: Path, header, read_frame: Callable[[], Any], *, spreadsheet: bool) -> Source:
    """A table whose columns are known from its header and whose rows are read only when its records are asked for:
    guessing a schema and offering the column choice need the header alone."""
    columns = tuple(str(c) for c in header)

    def rows() -> Iterator[Place]:
        for n, row in enumerate(read_frame().itertuples(index=False), 1):
            yield n, {c: _cell(v) for c, v in zip(columns, row)}, None

    return Source(path, "record", rows, rows, columns=columns, spreadsheet=spreadsheet)


# --- JSON -----------------------------------------------------------------------------------------


def _is_json_array(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"[")


def _json_lines(path: Path) -> Iterator[Place]:
    for raw in iter_raw_lines(path):
        try:
            yield raw.line, parse_json(raw.data), None
        except UnicodeDecodeError as exc:
            yield raw.line, None, f"byte {exc.start + 1} is not valid UTF-8"
        except ValueError as exc:
            yield raw.line, None, describe_json_error(exc, raw)


def _json_array(path: Path) -> Iterator[Place]:
    data = path.read_bytes()
    try:
        records = parse_json(data)
    except (ValueError, UnicodeDecodeError):
        yield from _array_records(path, data)
        return
    for n, record in enumerate(records, 1):
        yield n, record, None


def _array_records(path: Path, data: bytes) -> Iterator[Place]:
    """A JSON array read one record at a time: for a schema's guess, the first record without parsing the rest;
    for an array that does not parse as a whole (a dump cut short by a download, a stray character), every
    record before the break, then the break itself as an unreadable record saying where it is, since
    nothing after it can be told apart."""
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
