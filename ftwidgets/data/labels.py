"""What a model learns from: which tokens of each example a fine-tuning job trains on.

A job trains on the assistant replies only (a reply with ``weight: 0`` is context); a chat template or a weight
that masks every reply makes a job that silently trains on nothing (unsloth#11321). `LabelReport` says, per
example, how many tokens train, shows a few examples as pieces of text marked trained or not, and makes an
example that trains nothing an error with its line.

Two rules give the pieces:
- the embedded engine's: the example rendered through its base model's chat template, token by token, exactly as
  its trainer labels it (`ftwidgets.engine.chat.label_pieces`); `engine_label_report` asks ``ftw labels`` in a
  process of its own, so a notebook kernel never loads a tokenizer or torch;
- OpenAI's documented rule (`openai_label_report`): assistant messages train, unless their ``weight`` is 0;
  tokens counted with tiktoken, per message (OpenAI's own template is not public).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .dataset import DataError
from .readers import json_records


@dataclass
class ExampleLabels:
    line: int
    trained_tokens: int
    total_tokens: int
    pieces: list[tuple[str, bool]] = field(default_factory=list)  # (text, trained), only for the shown examples
    cause: str | None = None  # why nothing trains, for an example that trains nothing (`untrained_cause`)


def untrained_cause(messages: list[Mapping[str, Any]]) -> str:
    """The one true reason an example trains on no token, in the validator's words where it has them."""
    replies = [m for m in messages if isinstance(m, Mapping) and m.get("role") == "assistant"]
    if not replies:
        return "it has no assistant reply (example_missing_assistant_message): there is nothing to learn"
    if not any(trains(m) for m in replies):
        return "every assistant reply has weight 0"
    if all(not str(m.get("content") or "").strip() for m in replies if trains(m)):
        return "its assistant reply is empty (missing_content)"
    return "the chat template masks every assistant reply"


def example_labels(line: int, messages: list, trained: int, total: int, pieces: list) -> ExampleLabels:
    """One example's labels, with the cause when it trains on nothing."""
    return ExampleLabels(line, trained, total, pieces, untrained_cause(messages) if trained == 0 else None)


@dataclass
class LabelReport:
    rule: str
    examples: list[ExampleLabels] = field(default_factory=list)
    unreadable: dict[int, str] = field(default_factory=dict)  # line -> why it could not be read

    @property
    def trained_tokens(self) -> int:
        return sum(e.trained_tokens for e in self.examples)

    @property
    def total_tokens(self) -> int:
        return sum(e.total_tokens for e in self.examples)

    @property
    def untrained_lines(self) -> list[int]:
        """The examples a job would train nothing on: each is an error."""
        return [e.line for e in self.examples if e.trained_tokens == 0]

    @property
    def ok(self) -> bool:
        return not self.untrained_lines and not self.unreadable

    def summary(self, where: Callable[[int], str] = lambda n: f"line {n}") -> str:
        """The counts, then each example that trains nothing and each line not read, placed by `where` (the line
        of the file the learner brought, `origins.Origins.where`, when there is one)."""
        share = f" ({self.trained_tokens / self.total_tokens:.0%})" if self.total_tokens else ""
        lines = [
            f"{self.rule}: {self.trained_tokens:,} of {self.total_tokens:,} tokens train{share}, over "
            f"{len(self.examples):,} examples."
        ]
        lines += [
            f"  {where(e.line)}: error: this example trains on no token: {e.cause or 'see the validator'}"
            for e in self.examples
            if e.trained_tokens == 0
        ][:20]
        lines += [f"  {where(n)}: not read: {why}" for n, why in list(self.unreadable.items())[:20]]
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "ok": self.ok,
            "trained_tokens": self.trained_tokens,
            "total_tokens": self.total_tokens,
            "untrained_lines": self.untrained_lines,
            "unreadable": {str(k): v for k, v in self.unreadable.items()},
            "examples": [asdict(e) for e in self.examples],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LabelReport:
        examples = [
            ExampleLabels(
                e["line"], e["trained_tokens"], e["total_tokens"], [tuple(p) for p in e["pieces"]], e.get("cause")
            )
            for e in data["examples"]
        ]
        return cls(data["rule"], examples, {int(k): v for k, v in data.get("unreadable", {}).items()})


def read_examples(path: str | os.PathLike) -> Iterable[tuple[int, Any, str | None]]:
    """(line, messages, None) for each example with a messages list, (line, None, why) for the others."""
    for line, record, error in json_records(path):
        messages = record.get("messages") if isinstance(record, dict) else None
        if error is not None:
            yield line, None, "not valid JSON"
        elif not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
            yield line, None, "no 'messages' list"
        else:
            yield line, messages, None


def trains(message: Mapping[str, Any]) -> bool:
    """OpenAI's rule, and the engine's at the message level: an assistant message trains unless its weight is 0."""
    return message.get("role") == "assistant" and message.get("weight", 1) != 0


def openai_label_report(path: str | os.PathLike, *, show: int = 2, model: str | None = None) -> LabelReport:
    """OpenAI's documented rule, message by message, tokens counted with tiktoken."""
    from ..tokens import DEFAULT_MODEL, get_encoding, message_values

    enc = get_encoding(model or DEFAULT_MODEL)
    report = LabelReport("OpenAI (assistant messages, weight honoured)")
    for line, messages, why in read_examples(path):
        if messages is None:
            report.unreadable[line] = why
            continue
        pieces, trained, total = [], 0, 0
        for m in messages:
            text = "".join(t for key, t in message_values(m) if key != "role")
            n = len(enc.encode_ordinary(text))
            total += n
            trained += n if trains(m) else 0
            pieces.append((f"{m.get('role')}: {text}\n", trains(m)))
        shown = pieces if len(report.examples) < show else []
        report.examples.append(example_labels(line, messages, trained, total, shown))
    return report


def engine_label_report(path: str | os.PathLike, *, show: int = 2, base_model: str | None = None) -> LabelReport:
    """The embedded engine's rule, token by token, computed by ``ftw labels --json`` in a process of its own."""
    cmd = [sys.executable, "-m", "ftwidgets.cli", "labels", str(Path(path)), "--json", "--show", str(show)]
    if base_model:
        cmd += ["--base-model", base_model]
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=900
        )
    except subprocess.TimeoutExpired:
        raise DataError(
            f"working out the trained tokens of {path} took over 15 minutes: try `ftw labels {path}`"
        ) from None
    try:
        return LabelReport.from_json(json.loads(done.stdout))
    except (ValueError, KeyError):
        raise DataError(f"could not work out the trained tokens of {path}: {done.stderr.strip()[-500:]}") from None
