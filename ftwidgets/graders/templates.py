"""OpenAI's grader templates, filled in: ``{{sample.output_text}}``, ``{{sample.output_json.FIELD}}``,
``{{item.FIELD}}`` (nested with dots, list entries by number).

A value that is not text is written as canonical JSON (sorted keys, no spaces), so two equal objects render to the
same string and ``string_check``'s ``eq`` compares objects, not their layout.

    >>> render("{{ item.order.size }} x{{item.order.qty}}", {"sample": {}, "item": {"order": {"size": "L", "qty": 2}}})
    'L x2'
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

_VARIABLE = re.compile(r"\{\{\s*([A-Za-z_][\w.\-]*)\s*\}\}")
NAMESPACES = ("sample", "item")


class MissingVariable(KeyError):
    """A template names a variable the sample or the item does not have (OpenAI's ``invalid_variable_error``)."""

    def __init__(self, path: str):
        super().__init__(path)
        self.path = path

    def __str__(self) -> str:
        return f"no value for {{{{{self.path}}}}}"


def canonical(value: Any) -> str:
    """How a variable's value appears in a rendered template: text as it is, anything else as canonical JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def lookup(path: str, scope: Mapping[str, Any]) -> Any:
    """The value at a dotted path such as ``item.order.size`` (a list's entries by their number)."""
    value: Any = scope
    for part in path.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            raise MissingVariable(path)
    return value


def variables(template: str) -> list[str]:
    """The variables a template names, in order."""
    return _VARIABLE.findall(template or "")


def render(template: str, scope: Mapping[str, Any]) -> str:
    """The template with each ``{{path}}`` replaced by its value; `MissingVariable` when one has none."""
    return _VARIABLE.sub(lambda m: canonical(lookup(m.group(1), scope)), template or "")


def sample_scope(output_text: str) -> dict[str, Any]:
    """OpenAI's ``sample`` namespace for a model's answer: its text, and ``output_json`` when the whole text parses as
    JSON."""
    sample: dict[str, Any] = {"output_text": output_text}
    try:
        sample["output_json"] = json.loads(output_text)
    except (ValueError, TypeError):
        pass
    return sample
