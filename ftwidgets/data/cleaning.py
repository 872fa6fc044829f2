"""A way on from step 2: the examples the validator flags as errors, and exact duplicates, dropped into a new file.

A learner whose file fails validation should not have to edit it outside the notebook and upload it again.
`drop_flagged` takes the `validate.Report` of a file and writes the other examples, byte for byte as they were,
into a new file beside the step's work (never over the input); the result says which lines went and why, and
the new file is validated again by whoever asks, so nothing is trusted that was not checked.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..runtime.safe_files import atomic_write, iter_raw_lines
from .findings import CODES, ERROR, Report
from .origins import Origins
from .split import sha256_file


@dataclass
class Cleaned:
    """What `drop_flagged` made: the new file, how many examples it kept, and the lines it dropped with why."""

    source: Path
    path: Path
    kept: int
    errors: dict[int, str] = field(default_factory=dict)  # line -> the first error found there
    duplicates: list[int] = field(default_factory=list)  # lines that repeated an earlier example exactly
    source_sha256: str = ""

    @property
    def dropped(self) -> int:
        return len(self.errors) + len(self.duplicates)

    def summary(self, show: int = 5, origins: Origins | None = None) -> str:
        """What went and why; with `origins`, every place is the learner's own file's (`origins.Origins`)."""
        where = origins.where if origins is not None else (lambda line: f"line {line}")
        unchanged = origins.source if origins is not None else self.source.name
        parts = [
            f"Kept {self.kept:,} examples in {self.path.name}; dropped {len(self.errors):,} with errors and "
            f"{len(self.duplicates):,} exact duplicates ({unchanged} is unchanged)."
        ]
        parts += [f"  {where(line)}: {why}" for line, why in list(self.errors.items())[:show]]
        if len(self.errors) > show:
            parts.append(f"  ... and {len(self.errors) - show:,} more with errors")
        if self.duplicates:
            first = self.duplicates[:10]
            shown = origins.places_of(first) if origins is not None else "lines " + ", ".join(map(str, first))
            parts.append(f"  exact duplicates dropped: {shown}" + (" ..." if len(self.duplicates) > 10 else ""))
        return "\n".join(parts)


def drop_flagged(report: Report, out: str | os.PathLike, *, duplicates: bool = True) -> Cleaned:
    """Write the examples of ``report.path`` that have no error (and, with `duplicates`, are no later exact copy of
    an earlier one) to `out`, unchanged; `out` is replaced whole if it exists, and is never the input."""
    source, target = Path(report.path), Path(out)
    if target.resolve() == source.resolve():
        raise ValueError(f"{target} is the file being cleaned: write the cleaned examples to a new file")
    per = report.per_example
    lines = per["line"].tolist()
    usable = per["usable"].tolist()
    copies = per["exact_duplicate"].tolist() if duplicates else [False] * len(lines)
    kept_lines = {line for line, ok, copy in zip(lines, usable, copies) if ok and not copy}
    duplicate_lines = sorted(line for line, copy in zip(lines, copies) if copy)
    first_error: dict[int, str] = {}
    for finding in report.findings:
        if finding.severity == ERROR and finding.line is not None and finding.line not in first_error:
            first_error[finding.line] = f"{CODES[finding.code].title}: {finding.message}"
    dropped_as_copy = set(duplicate_lines)
    kept, errors = 0, {}
    with atomic_write(target) as fh:
        for raw in iter_raw_lines(source):
            if raw.line in kept_lines:
                fh.write(raw.data.rstrip(b"\r") + b"\n")
                kept += 1
            elif raw.line not in dropped_as_copy:
                errors[raw.line] = first_error.get(raw.line, "an error (see the table above)")
    return Cleaned(source, target, kept, errors, duplicate_lines, sha256_file(source))
