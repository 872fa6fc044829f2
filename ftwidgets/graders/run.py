"""Running a checked grader on one answer, locally, with OpenAI's result shape (``reward``, ``sub_rewards``,
``metadata`` with its error flags): the same numbers whether a notebook, the ``ftw grade`` command or the engine's
``/v1/fine_tuning/alpha/graders/run`` asks.

A grader that fails on one answer never raises: its reward is 0 and the flag says why (a variable the answer lacks,
a python grader that hung or crashed, a model grader's reply that is no score), so an evaluation of 120 answers
goes on past the one that broke. Model graders (``score_model``, ``label_model``) ask a model through `ChatFn`, which
`client_chat` makes from any `openai` client (the engine passes its own generator instead).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .definitions import check_grader, evaluate_formula, message_text, sub_graders
from .sandbox import MEMORY_LIMIT_MB, TIME_LIMIT_S, PythonSandbox
from .similarity import similarity
from .templates import MissingVariable, render, sample_scope

# (model, messages, {"temperature", "max_tokens", "seed", "top_p"}) -> the reply's text
ChatFn = Callable[[str, list[dict[str, str]], dict[str, Any]], str]

ERROR_FLAGS = (
    "formula_parse_error",
    "invalid_variable_error",
    "model_grader_parse_error",
    "model_grader_refusal_error",
    "model_grader_server_error",
    "other_error",
    "python_grader_runtime_error",
    "python_grader_server_error",
    "sample_parse_error",
    "truncated_observation_error",
    "unresponsive_reward_error",
)
DETAILS = {
    "model_grader_server_error": "model_grader_server_error_details",
    "python_grader_runtime_error": "python_grader_runtime_error_details",
    "python_grader_server_error": "python_grader_server_error_type",
}
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


@dataclass
class GraderRun:
    """One grader's verdict on one answer, as OpenAI's ``graders.run`` answers it."""

    name: str
    type: str
    reward: float
    sub_rewards: dict[str, float] = field(default_factory=dict)
    errors: dict[str, Any] = field(default_factory=dict)  # the flags raised, and their details
    execution_time: float = 0.0
    token_usage: int | None = None
    sampled_model_name: str | None = None
    label: str | None = None  # a label_model grader's label (the reward says only whether it passes)

    @property
    def failed(self) -> bool:
        return any(self.errors.get(flag) for flag in ERROR_FLAGS)

    def problem(self) -> str | None:
        """The first error in words, or None."""
        for flag in ERROR_FLAGS:
            if self.errors.get(flag):
                details = self.errors.get(DETAILS.get(flag, ""), self.errors.get("other_error_details"))
                return flag.replace("_", " ") + (f": {details}" if details else "")
        return None

    def to_openai(self) -> dict[str, Any]:
        """The ``GraderRunResponse`` body."""
        errors = {flag: bool(self.errors.get(flag)) for flag in ERROR_FLAGS}
        errors.update({key: self.errors.get(key) for key in DETAILS.values()})
        scores = dict(self.sub_rewards) if self.sub_rewards else {self.name: self.reward}
        return {
            "reward": self.reward,
            "sub_rewards": dict(self.sub_rewards),
            "metadata": {
                "errors": errors,
                "execution_time": self.execution_time,
                "name": self.name,
                "sampled_model_name": self.sampled_model_name,
                "scores": scores,
                "token_usage": self.token_usage,
                "type": self.type,
            },
            "model_grader_token_usage_per_model": {},
        }


def client_chat(client: Any) -> ChatFn:
    """A `ChatFn` over an `openai` client: any backend can grade."""

    def ask(model: str, messages: list[dict[str, str]], params: dict[str, Any]) -> str:
        reply = client.chat.completions.create(model=model, messages=messages, **params)
        return reply.choices[0].message.content or ""

    return ask


def grader_item(example: Mapping[str, Any], reference: str | None = None) -> dict[str, Any]:
    """The ``item`` namespace of a dataset line: its own fields, plus ``reference_answer`` (a chat example's last
    reply, where the line has no field of that name) and ``reference_json`` when that parses as JSON."""
    item = {k: v for k, v in example.items() if k != "messages"}
    if reference is None:
        replies = [m.get("content") for m in example.get("messages") or [] if m.get("role") == "assistant"]
        reference = replies[-1] if replies and isinstance(replies[-1], str) else None
    if reference is not None:
        item.setdefault("reference_answer", reference)
    if isinstance(item.get("reference_answer"), str) and "reference_json" not in item:
        try:
            item["reference_json"] = json.loads(item["reference_answer"])
        except ValueError:
            pass
    return item


class Grading:
    """Runs graders: keeps one process per python grader's source for as long as it lives (close it, or use it as a
    context manager), and the `ChatFn` model graders ask."""

    def __init__(
        self,
        chat: ChatFn | None = None,
        *,
        allow_python: bool = True,
        python_time_limit: float = TIME_LIMIT_S,
        python_memory_mb: int = MEMORY_LIMIT_MB,
    ):
        self.chat, self.allow_python = chat, allow_python
        self.python_time_limit, self.python_memory_mb = python_time_limit, python_memory_mb
        self._sandboxes: dict[str, PythonSandbox] = {}

    def __enter__(self) -> Grading:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    def close(self) -> None:
        for sandbox in self._sandboxes.values():
            sandbox.close()
        self._sandboxes.clear()

    def run(self, grader: Mapping[str, Any], output_text: str, item: Mapping[str, Any] | None = None) -> GraderRun:
        """The grader's verdict on `output_text` for `item` (the grader is checked first: `GraderError`)."""
        check_grader(grader)
        started = time.perf_counter()
        result = self._run(grader, output_text, dict(item or {}))
        result.execution_time = time.perf_counter() - started
        return result

    def _run(self, grader: Mapping[str, Any], output_text: str, item: dict[str, Any]) -> GraderRun:
        kind, name = grader["type"], grader["name"]
        if kind == "multi":
            return self._multi(grader, output_text, item)
        scope = {"sample": sample_scope(output_text), "item": item}
        try:
            if kind == "string_check":
                return GraderRun(name, kind, _string_check(grader, scope))
            if kind == "text_similarity":
                text, reference = render(grader["input"], scope), render(grader["reference"], scope)
                return GraderRun(name, kind, similarity(grader["evaluation_metric"], text, reference))
            if kind == "python":
                return self._python(grader, scope)
            return self._model(grader, scope)
        except MissingVariable as missing:
            return GraderRun(
                name, kind, 0.0, errors={"invalid_variable_error": True, "other_error_details": str(missing)}
            )

    def _python(self, grader: Mapping[str, Any], scope: dict[str, Any]) -> GraderRun:
        name = grader["name"]
        if not self.allow_python:
            failed = {"python_grader_server_error": True, "python_grader_server_error_type": "not allowed here"}
            return GraderRun(name, "python", 0.0, errors=failed)
        sandbox = self._sandboxes.get(grader["source"])
        if sandbox is None:
            sandbox = PythonSandbox(
                grader["source"], time_limit=self.python_time_limit, memory_mb=self.python_memory_mb
            )
            self._sandboxes[grader["source"]] = sandbox
        outcome = sandbox.grade(scope["sample"], scope["item"])
        if outcome.error is None:
            return GraderRun(name, "python", float(outcome.score))
        errors: dict[str, Any] = {outcome.error: True}
        if outcome.error in DETAILS:
            errors[DETAILS[outcome.error]] = outcome.details
        else:
            errors["python_grader_runtime_error_details"] = outcome.details
        return GraderRun(name, "python", 0.0, errors=errors)

    def _model(self, grader: Mapping[str, Any], scope: dict[str, Any]) -> GraderRun:
        kind, name, model = grader["type"], grader["name"], grader["model"]
        if self.chat is None:
            failed = {"model_grader_server_error": True, "model_grader_server_error_details": "no model to ask"}
            return GraderRun(name, kind, 0.0, errors=failed, sampled_model_name=model)
        messages = [
            {
                "role": "system" if m["role"] == "developer" else m["role"],
                "content": render(message_text(m["content"]), scope),
            }
            for m in grader["input"]
        ]
        sampling = dict(grader.get("sampling_params") or {})
        params = {
            "temperature": sampling.get("temperature", 0),
            "max_tokens": sampling.get("max_completions_tokens") or 16,
        }
        params.update({k: sampling[k] for k in ("seed", "top_p") if sampling.get(k) is not None})
        if kind == "score_model":
            low, high = grader.get("range") or [0, 1]
            ask = f"Reply with one number from {low:g} to {high:g}, nothing else."
        else:
            ask = "Reply with exactly one of these labels, nothing else: " + ", ".join(grader["labels"]) + "."
        messages.append({"role": "system", "content": ask})
        try:
            reply = self.chat(model, messages, params)
        except Exception as exc:  # noqa: BLE001 - the backend's refusal or failure is this answer's grade
            failed = {
                "model_grader_server_error": True,
                "model_grader_server_error_details": f"{type(exc).__name__}: {exc}",
            }
            return GraderRun(name, kind, 0.0, errors=failed, sampled_model_name=model)
        if kind == "score_model":
            score = next((float(x) for x in _NUMBER.findall(reply) if low <= float(x) <= high), None)
            if score is None:
                return GraderRun(name, kind, 0.0, errors={"model_grader_parse_error": True}, sampled_model_name=model)
            return GraderRun(name, kind, score, sampled_model_name=model)
        label = model_label(reply, grader["labels"])
        if label is None:
            return GraderRun(name, kind, 0.0, errors={"model_grader_parse_error": True}, sampled_model_name=model)
        reward = float(label in grader["passing_labels"])
        return GraderRun(name, kind, reward, sampled_model_name=model, label=label)

    def _multi(self, grader: Mapping[str, Any], output_text: str, item: dict[str, Any]) -> GraderRun:
        subs = {name: self._run(sub, output_text, item) for name, sub in sub_graders(grader).items()}
        errors: dict[str, Any] = {}
        for sub in subs.values():
            errors.update({k: v for k, v in sub.errors.items() if v})
        rewards = {name: sub.reward for name, sub in subs.items()}
        try:
            reward = evaluate_formula(grader["calculate_output"], rewards)
        except (ArithmeticError, ValueError, TypeError) as exc:  # a division by a zero reward, the log of 0
            errors.update({"formula_parse_error": True, "other_error_details": str(exc)})
            reward = 0.0
        return GraderRun(grader["name"], "multi", reward, sub_rewards=rewards, errors=errors)


def _string_check(grader: Mapping[str, Any], scope: dict[str, Any]) -> float:
    text, reference, op = render(grader["input"], scope), render(grader["reference"], scope), grader["operation"]
    if op == "eq":
        return float(text == reference)
    if op == "ne":
        return float(text != reference)
    if op == "like":
        return float(reference in text)
    return float(reference.lower() in text.lower())


def model_label(reply: str, labels: list[str]) -> str | None:
    """The label a model grader's reply gives: the whole reply, else the first label named in it as a word."""
    text = reply.strip().strip(".").strip()
    for label in labels:
        if text.lower() == label.lower():
            return label
    found = [(m.start(), label) for label in labels if (m := re.search(rf"\b{re.escape(label)}\b", reply, re.I))]
    return min(found)[1] if found else None
