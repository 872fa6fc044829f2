"""Graders proposed from a learner's own examples, before any training: what their reference answers have in common
says what success looks like.

- every reference is a JSON object: valid JSON, the whole object right, and each field right on its own (so a
  learner sees which field goes wrong);
- the references come from a small set of labels: the label, exactly;
- the references end on a shared pattern (``Answer: 42``): the format, and the final value after it;
- otherwise: word overlap (token F1, ROUGE-L).

Each proposal is an OpenAI grader object, so the same definition runs here, in the engine and on OpenAI.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..data.dataset import describe_json_error
from ..runtime.safe_files import iter_raw_lines, parse_json

MAX_FIELDS = 12  # one grader per field, for objects of up to this many keys
MAX_LABELS = 20
_FINAL_PREFIX = re.compile(r"^\s*([A-Za-z][A-Za-z ]{0,30}?)\s*[:=]")

VALID_JSON = '''import json

def grade(sample, item):
    """1 when the whole answer is one JSON object."""
    try:
        return float(isinstance(json.loads(sample["output_text"]), dict))
    except ValueError:
        return 0.0
'''
FIELD_MATCH = '''import json

def grade(sample, item):
    """1 when the answer's {key!r} equals the reference's (both absent counts as equal)."""
    try:
        got = json.loads(sample["output_text"])
    except ValueError:
        return 0.0
    want = item["reference_json"]
    return float(isinstance(got, dict) and got.get({key!r}) == want.get({key!r}))
'''
FINAL_FORMAT = '''import re

def grade(sample, item):
    """1 when the answer's last line starts with {prefix!r} and something follows it."""
    lines = [line for line in sample["output_text"].strip().splitlines() if line.strip()]
    return float(bool(lines) and re.match({pattern!r}, lines[-1]) is not None)
'''
FINAL_VALUE = '''import re

def final(text):
    lines = [line for line in text.strip().splitlines() if line.strip()]
    found = re.match({pattern!r}, lines[-1]) if lines else None
    return found.group(1).strip().rstrip(".").replace(",", "") if found else None

def grade(sample, item):
    """1 when the value after {prefix!r} on the last line equals the reference's."""
    got = final(sample["output_text"])
    return float(got is not None and got == final(item["reference_answer"]))
'''


@dataclass
class ReadExamples:
    """A file's examples with their line numbers, and every line that could not be used, with why."""

    path: str
    examples: list[dict[str, Any]] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    flaws: list[tuple[int, str]] = field(default_factory=list)


def read_examples(path: str | Path) -> ReadExamples:
    """A chat JSONL file read line by line (a BOM, Windows line endings and blank lines absorbed); a line that is not
    JSON, or an example with no assistant reply to grade against, is a flaw with its line, never an exception."""
    read = ReadExamples(str(path))
    for raw in iter_raw_lines(path):
        try:
            example = parse_json(raw.data)
        except UnicodeDecodeError as exc:
            read.flaws.append((raw.line, f"byte {exc.start + 1} is not valid UTF-8"))
            continue
        except ValueError as exc:
            read.flaws.append((raw.line, describe_json_error(exc, raw)))
            continue
        messages = example.get("messages") if isinstance(example, Mapping) else None
        if not isinstance(messages, list) or not messages:
            read.flaws.append((raw.line, 'not a chat example: no "messages" list'))
        elif not isinstance(messages[-1], Mapping) or messages[-1].get("role") != "assistant":
            read.flaws.append((raw.line, "ends without an assistant reply: nothing to grade against"))
        elif not isinstance(messages[-1].get("content"), str) or not messages[-1]["content"].strip():
            read.flaws.append((raw.line, "the assistant reply is empty: nothing to grade against"))
        else:
            read.examples.append(example)
            read.lines.append(raw.line)
    return read


def reference(example: Mapping[str, Any]) -> str:
    return example["messages"][-1]["content"]


def _string_check(name: str, key: str) -> dict[str, Any]:
    return {
        "type": "string_check",
        "name": name,
        "input": f"{{{{sample.output_json.{key}}}}}" if key else "{{sample.output_json}}",
        "reference": f"{{{{item.reference_json.{key}}}}}" if key else "{{item.reference_json}}",
        "operation": "eq",
    }


def _json_graders(objects: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    graders = [{"type": "python", "name": "valid JSON", "source": VALID_JSON}, _string_check("exact match", "")]
    counts = Counter(key for obj in objects for key in obj)
    for key, seen in counts.most_common(MAX_FIELDS):
        name = f"field {key}"
        if seen == len(objects) and re.fullmatch(r"[A-Za-z_][\w\-]*", key):
            graders.append(_string_check(name, key))
        else:  # a key some references lack, or one a template cannot name
            graders.append({"type": "python", "name": name, "source": FIELD_MATCH.format(key=key)})
    return graders


def _final_prefix(references: Sequence[str]) -> str | None:
    """The words before a colon that (nearly) every reference's last line starts with, such as ``Answer``."""
    prefixes = Counter()
    for text in references:
        lines = [line for line in text.strip().splitlines() if line.strip()]
        found = _FINAL_PREFIX.match(lines[-1]) if lines else None
        if found:
            prefixes[found.group(1)] += 1
    if not prefixes:
        return None
    prefix, seen = prefixes.most_common(1)[0]
    return prefix if seen >= 0.95 * len(references) and len(references) > 1 else None


def propose_graders(examples: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """OpenAI grader objects that fit the examples' reference answers (their last assistant replies)."""
    references = [reference(ex) for ex in examples]
    if not references:
        return []
    parsed = []
    for text in references:
        try:
            parsed.append(json.loads(text))
        except ValueError:
            break
    if len(parsed) == len(references) and all(isinstance(obj, dict) for obj in parsed):
        return _json_graders(parsed)
    labels = Counter(text.strip() for text in references)
    if (
        len(labels) <= min(MAX_LABELS, max(2, len(references) // 5))
        and all(len(label.split()) <= 5 for label in labels)
        and len(references) >= 2 * len(labels)
    ):
        return [
            {
                "type": "string_check",
                "name": "label",
                "input": "{{sample.output_text}}",
                "reference": "{{item.reference_answer}}",
                "operation": "eq",
            }
        ]
    prefix = _final_prefix(references)
    if prefix is not None:
        pattern = rf"\s*{re.escape(prefix)}\s*[:=]\s*(\S.*)$"
        return [
            {"type": "python", "name": "format", "source": FINAL_FORMAT.format(prefix=prefix, pattern=pattern)},
            {
                "type": "python",
                "name": f"{prefix.lower()} match",
                "source": FINAL_VALUE.format(prefix=prefix, pattern=pattern),
            },
        ]
    return [
        {
            "type": "text_similarity",
            "name": name,
            "input": "{{sample.output_text}}",
            "reference": "{{item.reference_answer}}",
            "evaluation_metric": metric,
        }
        for name, metric in (("token F1", "rouge_1"), ("ROUGE-L", "rouge_l"))
    ]
