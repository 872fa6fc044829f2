"""OpenAI's grader objects checked before anything runs: each field's shape, the templates' variables, a python
grader's syntax and its ``grade`` function, a multi grader's formula. A bad grader raises `GraderError` naming the
field (``grader.graders.price.operation``), which the engine answers as a 400 and the notebooks print as it is.

    >>> check_grader({"type": "string_check", "name": "x", "input": "{{sample.output_text}}",
    ...               "reference": "{{item.answer}}", "operation": "contains"})
    Traceback (most recent call last):
    ...
    ftwidgets.graders.definitions.GraderError: grader.operation: 'contains' is not one of eq, ne, like, ilike
"""

from __future__ import annotations

import ast
import math
from collections.abc import Mapping
from typing import Any

from .similarity import REFUSED, SUPPORTED
from .templates import NAMESPACES, variables

TYPES = ("string_check", "text_similarity", "python", "score_model", "label_model", "multi")
OPERATIONS = ("eq", "ne", "like", "ilike")
ROLES = ("user", "assistant", "system", "developer")
# what a multi grader's calculate_output may call, as OpenAI documents it
FUNCTIONS = {
    "min": min,
    "max": max,
    "abs": abs,
    "floor": math.floor,
    "ceil": math.ceil,
    "exp": math.exp,
    "sqrt": math.sqrt,
    "log": math.log,
}


class GraderError(ValueError):
    """A grader that cannot run: ``param`` is the field at fault, in OpenAI's dotted form."""

    def __init__(self, param: str, message: str):
        super().__init__(f"{param}: {message}")
        self.param, self.message = param, message


def _text(grader: Mapping[str, Any], key: str, param: str) -> str:
    value = grader.get(key)
    if not isinstance(value, str):
        raise GraderError(f"{param}.{key}", "required, a string")
    return value


def _template(grader: Mapping[str, Any], key: str, param: str) -> str:
    template = _text(grader, key, param)
    for path in variables(template):
        if path.split(".", 1)[0] not in NAMESPACES:
            raise GraderError(f"{param}.{key}", f"{{{{{path}}}}} is not a variable: use sample.* or item.*")
    return template


def _messages(grader: Mapping[str, Any], param: str) -> None:
    messages = grader.get("input")
    if not isinstance(messages, list) or not messages:
        raise GraderError(f"{param}.input", "required, a list of messages with a role and a content")
    for n, message in enumerate(messages):
        where = f"{param}.input.{n}"
        if not isinstance(message, Mapping) or message.get("role") not in ROLES:
            raise GraderError(f"{where}.role", f"required, one of {', '.join(ROLES)}")
        content = message.get("content")
        if isinstance(content, Mapping) and isinstance(content.get("text"), str):
            content = content["text"]
        if not isinstance(content, str):
            raise GraderError(f"{where}.content", "text only here: a string, or an input_text object")
        _template({"content": content}, "content", where)
    if not isinstance(grader.get("model"), str) or not grader["model"]:
        raise GraderError(f"{param}.model", "required, the model that grades")


def message_text(content: Any) -> str:
    """A model grader's message content as text (a string, or an ``input_text``/``output_text`` object)."""
    return content["text"] if isinstance(content, Mapping) else str(content)


def formula_names(formula: str, param: str) -> set[str]:
    """The grader names a ``calculate_output`` formula reads; `GraderError` for anything but arithmetic on them."""
    try:
        tree = ast.parse(formula.replace("^", "**"), mode="eval")
    except SyntaxError as exc:
        raise GraderError(param, f"not a formula: {exc.msg}") from None
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS or node.keywords:
                raise GraderError(param, f"only {', '.join(FUNCTIONS)} may be called")
        elif isinstance(node, ast.Name):
            names.add(node.id)
        elif not isinstance(
            node, (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Constant, ast.operator, ast.unaryop, ast.Load)
        ) or (isinstance(node, ast.Constant) and not isinstance(node.value, (int, float))):
            raise GraderError(param, f"{type(node).__name__} is not allowed: numbers, names, + - * / ^ and calls")
    return names - set(FUNCTIONS)


def evaluate_formula(formula: str, values: Mapping[str, float]) -> float:
    """A checked formula's value with the sub-graders' rewards as its names."""
    code = compile(ast.parse(formula.replace("^", "**"), mode="eval"), "<calculate_output>", "eval")
    return float(eval(code, {"__builtins__": {}}, {**FUNCTIONS, **values}))  # noqa: S307 - checked by formula_names


def sub_graders(grader: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """A multi grader's graders by name (a map, as OpenAI's API takes them, or one grader under its own name)."""
    graders = grader.get("graders")
    if isinstance(graders, Mapping) and "type" in graders:
        return {str(graders.get("name")): graders}
    return dict(graders) if isinstance(graders, Mapping) else {}


def check_grader(grader: Any, param: str = "grader") -> Mapping[str, Any]:
    """The grader, unchanged, once every field is right; `GraderError` names the first one that is not."""
    if not isinstance(grader, Mapping):
        raise GraderError(param, "a grader is an object with a type")
    kind = grader.get("type")
    if kind not in TYPES:
        raise GraderError(f"{param}.type", f"{kind!r} is not one of {', '.join(TYPES)}")
    if not isinstance(grader.get("name"), str) or not grader["name"].strip():
        raise GraderError(f"{param}.name", "required, a non-empty string")
    if kind == "string_check":
        _template(grader, "input", param), _template(grader, "reference", param)
        if grader.get("operation") not in OPERATIONS:
            raise GraderError(
                f"{param}.operation", f"{grader.get('operation')!r} is not one of {', '.join(OPERATIONS)}"
            )
    elif kind == "text_similarity":
        _template(grader, "input", param), _template(grader, "reference", param)
        metric = grader.get("evaluation_metric")
        if metric in REFUSED:
            raise GraderError(f"{param}.evaluation_metric", REFUSED[metric] + f": use one of {', '.join(SUPPORTED)}")
        if metric not in SUPPORTED:
            raise GraderError(f"{param}.evaluation_metric", f"{metric!r} is not one of {', '.join(SUPPORTED)}")
    elif kind == "python":
        source = _text(grader, "source", param)
        try:
            tree = ast.parse(source)
        except SyntaxError as exc:
            raise GraderError(f"{param}.source", f"line {exc.lineno}: {exc.msg}") from None
        if not any(isinstance(node, ast.FunctionDef) and node.name == "grade" for node in tree.body):
            raise GraderError(f"{param}.source", "defines no function grade(sample, item) at its top level")
    elif kind == "score_model":
        _messages(grader, param)
        bounds = grader.get("range")
        if bounds is not None and not (
            isinstance(bounds, list)
            and len(bounds) == 2
            and all(isinstance(b, (int, float)) for b in bounds)
            and bounds[0] < bounds[1]
        ):
            raise GraderError(f"{param}.range", "two numbers, the lowest score first")
    elif kind == "label_model":
        _messages(grader, param)
        labels, passing = grader.get("labels"), grader.get("passing_labels")
        if not isinstance(labels, list) or not labels or not all(isinstance(x, str) and x for x in labels):
            raise GraderError(f"{param}.labels", "required, a list of labels")
        if not isinstance(passing, list) or not passing or not set(passing) <= set(labels):
            raise GraderError(f"{param}.passing_labels", "required, a non-empty subset of labels")
    else:  # multi
        graders = sub_graders(grader)
        if not graders:
            raise GraderError(f"{param}.graders", "required, a map of names to graders")
        for name, sub in graders.items():
            if isinstance(sub, Mapping) and sub.get("type") == "multi":
                raise GraderError(f"{param}.graders.{name}.type", "a multi grader cannot hold another")
            check_grader(sub, f"{param}.graders.{name}")
        formula = _text(grader, "calculate_output", param)
        unknown = formula_names(formula, f"{param}.calculate_output") - set(graders)
        if unknown:
            raise GraderError(f"{param}.calculate_output", f"names no grader: {', '.join(sorted(unknown))}")
    return grader
