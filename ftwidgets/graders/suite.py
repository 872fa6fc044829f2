"""A task's definition of success as a list of graders: saved with step 2's artifacts (``graders.json``), read back
by every later step, previewed on the references, and turned into the `Metric` objects that step 5 compares, step
6's automatic reviewer and step 8's pairs use, so every step measures the same thing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..data.dataset import DataError
from ..metrics import Metric
from ..runtime.safe_files import write_json_atomic
from .definitions import GraderError, check_grader
from .propose import reference
from .run import Grading, grader_item

GRADERS_FILE = "graders.json"
PASS_FAIL = ("string_check", "label_model")  # 0 or 1 by construction; a python grader's kind is read off its scores


def grader_kind(grader: Mapping[str, Any]) -> str:
    """How step 5 tests a grader's difference: ``pass`` (McNemar) for a 0/1 grader, ``score`` (bootstrap) for a
    graded one, ``auto`` (decided by the scores) for a python grader."""
    if grader["type"] in PASS_FAIL:
        return "pass"
    return "auto" if grader["type"] == "python" else "score"


def as_metric(grader: Mapping[str, Any], grading: Grading) -> Metric:
    """The grader as a `Metric` ``(answer, reference, example) -> reward``."""
    check_grader(grader)

    def fn(prediction: str, ref: str, example: Mapping[str, Any]) -> float:
        return grading.run(grader, prediction, grader_item(example, ref or None)).reward

    return Metric(grader["name"], grader_kind(grader), fn, f"the {grader['type']} grader {grader['name']!r}")


def check_graders(graders: Any, param: str = "graders") -> list[Mapping[str, Any]]:
    """A list of graders with distinct names, each checked (`GraderError` names the one at fault)."""
    if not isinstance(graders, list) or not graders:
        raise GraderError(param, "a non-empty list of grader objects")
    names = set()
    for n, grader in enumerate(graders):
        check_grader(grader, f"{param}.{n}")
        if grader["name"] in names:
            raise GraderError(f"{param}.{n}.name", f"{grader['name']!r} is used twice: names say which grader is which")
        names.add(grader["name"])
    return graders


def save_graders(path: str | os.PathLike, graders: Sequence[Mapping[str, Any]]) -> Path:
    check_graders(list(graders))
    write_json_atomic(Path(path), list(graders), indent=2)
    return Path(path)


def load_graders(path: str | os.PathLike) -> list[Mapping[str, Any]]:
    """The graders of a file (a list of OpenAI grader objects); `DataError` says what is wrong with it."""
    try:
        graders = json.loads(Path(path).read_text(encoding="utf-8-sig"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a graders file ({exc})") from None
    try:
        return check_graders(graders)
    except GraderError as exc:
        raise DataError(f"{path}: {exc}") from None


@dataclass
class GraderPreview:
    """One grader on the learner's own reference answers: each must pass its own grader."""

    name: str
    type: str
    mean: float
    n: int
    failing_lines: list[int]  # lines whose reference does not get the full reward
    problems: list[str]  # the grader's own errors, first few

    @property
    def ok(self) -> bool:
        return not self.failing_lines


def preview(
    graders: Sequence[Mapping[str, Any]],
    examples: Sequence[Mapping[str, Any]],
    grading: Grading,
    lines: Sequence[int] | None = None,
    answers: Sequence[str] | None = None,
) -> list[GraderPreview]:
    """Every grader on every example: on `answers` when given (one per example), else on the reference answers
    themselves, where a grader that does not give its references full marks is flagged before any training."""
    lines = list(lines) if lines is not None else list(range(1, len(examples) + 1))
    out = []
    for grader in graders:
        rewards, failing, problems = [], [], []
        for n, example in enumerate(examples):
            ref = reference(example)
            result = grading.run(grader, ref if answers is None else answers[n], grader_item(example, ref))
            rewards.append(result.reward)
            if result.reward < 1.0:
                failing.append(lines[n])
            if result.failed and len(problems) < 3:
                problems.append(f"line {lines[n]}: {result.problem()}")
        mean = sum(rewards) / len(rewards) if rewards else 0.0
        out.append(GraderPreview(grader["name"], grader["type"], mean, len(rewards), failing, problems))
    return out


def _record(saved: Path) -> Path:
    return saved.with_name(saved.stem + ".dataset.json")


def graders_for(dataset: str | os.PathLike, saved: str | os.PathLike) -> tuple[list[Mapping[str, Any]], bool]:
    """The graders of `dataset`: those saved for this very file (the learner's edits kept), else a fresh proposal;
    and whether they were kept."""
    from ..data.split import sha256_file
    from .propose import propose_graders, read_examples

    saved, digest = Path(saved), sha256_file(dataset)
    record = _record(saved)
    if saved.exists() and record.exists():
        try:
            if json.loads(record.read_text()).get("dataset_sha256") == digest:
                return load_graders(saved), True
        except (ValueError, DataError):
            pass  # unreadable: proposed again below
    return propose_graders(read_examples(dataset).examples), False


def save_graders_for(
    dataset: str | os.PathLike, saved: str | os.PathLike, graders: Sequence[Mapping[str, Any]]
) -> Path:
    """Save the graders with the checksum of the dataset they were made for (`graders_for` keeps them for it)."""
    from ..data.split import sha256_file

    path = save_graders(saved, graders)
    write_json_atomic(_record(path), {"dataset": str(dataset), "dataset_sha256": sha256_file(dataset)}, indent=2)
    return path
