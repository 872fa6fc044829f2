"""The one shape every data problem takes: a `Finding`, collected into a `Report`.

The command line, the validation widget and the engine's failed-job error all show
these same objects, so a code means the same thing everywhere. `CODES` is the
catalogue: each code's severity, title and how to fix it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class Code:
    severity: str
    title: str
    hint: str


CODES: dict[str, Code] = {
    # errors: OpenAI (and the embedded engine) would reject the file or the example
    "invalid_encoding": Code(ERROR, "Line is not valid UTF-8", "Save the file as UTF-8."),
    "invalid_json": Code(
        ERROR,
        "Line is not valid JSON",
        "Each line must be one complete JSON object; check quotes, commas and brackets.",
    ),
    "data_type": Code(ERROR, "Wrong JSON type", "Each line must be a JSON object, and each message an object too."),
    "missing_messages_list": Code(ERROR, "No messages list", 'Put the conversation in a non-empty "messages" list.'),
    "message_missing_key": Code(
        ERROR, "Message lacks a key", 'Every message needs "role" (and "content", unless it is an assistant tool call).'
    ),
    "message_unrecognized_key": Code(
        ERROR,
        "Unknown message key",
        "Messages may only hold role, content, name, weight, tool_calls, tool_call_id and function_call.",
    ),
    "unrecognized_role": Code(ERROR, "Unknown role", "Use system, developer, user, assistant or tool."),
    "missing_content": Code(ERROR, "Empty message", "Give the message some text; delete it if it is not needed."),
    "invalid_content_type": Code(
        ERROR, "Content is not text", 'content must be a string (or a list of {"type": "text", "text": ...} parts).'
    ),
    "example_missing_assistant_message": Code(
        ERROR, "No assistant message", "Add the answer the model should learn as an assistant message."
    ),
    "last_message_not_assistant": Code(
        ERROR, "Does not end with the assistant", "End every example with the assistant reply to learn."
    ),
    "invalid_weight": Code(ERROR, "Bad weight", "weight may only be 0 or 1, and only on assistant messages."),
    "invalid_tool_call": Code(
        ERROR,
        "Malformed tool call",
        'tool_calls need id, type "function" and function {name, arguments as a JSON string}; '
        "a tool message needs the tool_call_id of an earlier call.",
    ),
    "reserved_token": Code(
        ERROR,
        "Reserved special token in text",
        "Remove special tokens such as <|endoftext|>; the server rejects them only after upload.",
    ),
    "too_many_tokens": Code(
        ERROR,
        "Example over the token limit",
        "Shorten the example or split the conversation; tokens past the limit are cut off.",
    ),
    "empty_file": Code(
        ERROR,
        "No usable example",
        "The file holds no example that can be trained on: every line is blank or has an error.",
    ),
    "too_few_examples": Code(
        ERROR,
        "Too few examples",
        "Collect more examples: 10 is OpenAI's minimum and under 100 rarely teaches anything; aim for 500-1,000.",
    ),
    "invalid_preference": Code(
        ERROR,
        "Malformed preference record",
        'A DPO line needs "input" {"messages" ending with a user turn} and one assistant message each in '
        '"preferred_output" and "non_preferred_output", with different texts.',
    ),
    # warnings: it trains, but probably not well
    "unrecognized_example_key": Code(
        WARNING,
        "Unknown top-level key",
        "Only messages, tools, parallel_tool_calls and functions are used; other keys are ignored.",
    ),
    "no_system_message": Code(
        WARNING,
        "No system message",
        "A consistent system prompt in every example makes the behaviour easier to trigger.",
    ),
    "no_user_message": Code(WARNING, "No user message", "Include the user turn the assistant is answering."),
    "exact_duplicate": Code(
        WARNING, "Exact duplicate", "Remove repeats: they overweight one example and can leak across splits."
    ),
    "near_duplicate": Code(
        WARNING, "Near duplicate", "Vary your examples or remove the near copy; diversity matters more than count."
    ),
    "repetitive_text": Code(
        WARNING, "Repetitive answer", "An answer that repeats one phrase teaches the model to loop; rewrite it."
    ),
    "long_example": Code(
        WARNING, "Very long example", "Long examples cost more and may be truncated; check it is intended."
    ),
    "personal_data": Code(
        WARNING, "Personal data or secret", "Remove e-mail addresses, phone numbers and keys before uploading."
    ),
    "small_dataset": Code(
        WARNING, "Small dataset", "100-499 examples can work; 500-1,000 diverse examples usually work much better."
    ),
    "looks_like_facts": Code(
        WARNING,
        "Looks like teaching facts",
        "Fine-tuning teaches style and format, not knowledge: use retrieval (RAG) for facts.",
    ),
}


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem: where it is (line, example, message), what it is, and how to fix it."""

    code: str
    message: str
    line: int | None = None  # 1-based physical line; None for file-level findings
    example: int | None = None  # 0-based example index
    message_index: int | None = None  # 0-based index in "messages"

    @property
    def severity(self) -> str:
        return CODES[self.code].severity

    @property
    def hint(self) -> str:
        return CODES[self.code].hint

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["severity"] = self.severity
        d["hint"] = self.hint
        return d

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line is not None else "file"
        if self.message_index is not None:
            where += f", message {self.message_index}"
        return f"{where}: {self.severity} {self.code}: {self.message}"


@dataclass
class Report:
    """Findings of one file with exact counts per code.

    At most ``max_per_code`` findings of each code are kept (counts stay exact), so a
    100k-example file with the same warning on every line still fits in memory.
    """

    path: str = ""
    model: str = ""
    examples: int = 0
    usable_examples: int = 0
    max_per_code: int | None = 10_000
    findings: list[Finding] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)
    tokens: dict[str, Any] = field(default_factory=dict)
    quality: dict[str, Any] = field(default_factory=dict)
    per_example: dict[str, Any] = field(default_factory=dict)  # numpy arrays: line, tokens, turns, usable

    def add(self, finding: Finding) -> None:
        self.counts[finding.code] += 1
        if self.max_per_code is None or self.counts[finding.code] <= self.max_per_code:
            self.findings.append(finding)

    def extend(self, findings: Iterable[Finding]) -> None:
        for f in findings:
            self.add(f)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == WARNING]

    @property
    def error_count(self) -> int:
        return sum(n for code, n in self.counts.items() if CODES[code].severity == ERROR)

    @property
    def warning_count(self) -> int:
        return sum(n for code, n in self.counts.items() if CODES[code].severity == WARNING)

    @property
    def valid(self) -> bool:
        return self.error_count == 0

    def sorted_findings(self) -> list[Finding]:
        """Errors before warnings, then by line."""
        return sorted(
            self.findings,
            key=lambda f: (f.severity != ERROR, f.line if f.line is not None else -1, f.message_index or 0),
        )

    def to_dataframe(self):
        import pandas as pd

        cols = ["line", "example", "message_index", "severity", "code", "message", "hint"]
        return pd.DataFrame([f.to_dict() for f in self.sorted_findings()], columns=cols)

    def summary(self) -> list[dict[str, Any]]:
        """One row per code found: severity, count, title, hint (the cookbook's 'counted, then explained')."""
        rows = [
            {"code": c, "severity": CODES[c].severity, "count": n, "title": CODES[c].title, "hint": CODES[c].hint}
            for c, n in self.counts.items()
        ]
        return sorted(rows, key=lambda r: (r["severity"] != ERROR, -r["count"], r["code"]))

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "model": self.model,
            "valid": self.valid,
            "examples": self.examples,
            "usable_examples": self.usable_examples,
            "counts": dict(self.counts),
            "errors": [f.to_dict() for f in self.sorted_findings() if f.severity == ERROR],
            "warnings": [f.to_dict() for f in self.sorted_findings() if f.severity == WARNING],
            "tokens": self.tokens,
            "quality": self.quality,
        }

    def first_error(self) -> Finding | None:
        errs = self.errors
        return min(errs, key=lambda f: (f.line is None, f.line or 0)) if errs else None
