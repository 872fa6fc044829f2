"""Where each example of the workbook's dataset came from in the file the learner brought.

Step 1 rewrites a learner's file as chat JSONL (`dataset.jsonl`, one example a line): records that could not be
converted, and blank lines, are not in it, so its line numbers are not the learner's. `Origins` keeps, for every
example, its place in the brought file (a JSONL line, a CSV record and its spreadsheet row, a JSON array's record),
so step 2's findings, the trained-token view and the Drop report point at the line the learner will open. Step 2's
cleaned file keeps the places of the examples it kept (`kept`).

    >>> Origins("mine.jsonl", "line", (1, 3, 4)).where(2)
    'line 3 of mine.jsonl'
    >>> Origins("mine.csv", "record", (1, 2), rows=True).where(2)
    'record 2 (row 3) of mine.csv'
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Origins:
    source: str  # the learner's file, by name
    unit: str  # "line" (JSONL) or "record" (CSV, a JSON array)
    places: tuple[int, ...]  # the place of the dataset's example on line n is places[n - 1]
    rows: bool = False  # a CSV: record n is the spreadsheet's row n + 1, under the header
    by_place: dict[int, int] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self):
        self.by_place.update({place: n for n, place in enumerate(self.places, 1)})

    def place(self, line: int) -> int | None:
        return self.places[line - 1] if 1 <= line <= len(self.places) else None

    def short(self, line: int | None) -> str:
        """A dataset line as the learner's place, without the file's name: ``78``, ``record 12 (row 13)``."""
        place = self.place(line) if line is not None else None
        if place is None:
            return "file" if line is None else f"example {line}"
        return (
            f"record {place} (row {place + 1})"
            if self.rows
            else str(place)
            if self.unit == "line"
            else f"record {place}"
        )

    def where(self, line: int | None) -> str:
        """A dataset line in the learner's words: ``line 78 of mine.jsonl``, ``record 12 (row 13) of mine.csv``."""
        place = self.place(line) if line is not None else None
        if place is None:
            return self.source if line is None else f"example {line}"
        row = f" (row {place + 1})" if self.rows else ""
        return f"{self.unit} {place}{row} of {self.source}"

    def places_of(self, lines: Iterable[int]) -> str:
        """Several dataset lines as the learner's: ``lines 78, 223 of mine.jsonl``."""
        found = [p for p in (self.place(n) for n in lines) if p is not None]
        if not found:
            return ""
        return f"{self.unit}{'s' if len(found) > 1 else ''} {', '.join(map(str, found))} of {self.source}"

    def line_of(self, place: int) -> int | None:
        """The dataset line of the example at the learner's `place` (what a "jump to line" box is given)."""
        return self.by_place.get(place)

    def kept(self, lines: Sequence[int]) -> Origins:
        """The origins of a file made of the dataset's `lines`, in that order (step 2's cleaned file)."""
        return Origins(self.source, self.unit, tuple(self.places[n - 1] for n in lines), self.rows)

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "unit": self.unit, "places": list(self.places), "rows": self.rows}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Origins:
        return cls(data["source"], data["unit"], tuple(data["places"]), bool(data.get("rows")))
