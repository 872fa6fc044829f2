"""The sample tasks a learner can choose in notebook 01, and what each is measured by.

A task is a committed dataset plus the metrics that tell whether fine-tuning helped on it:
step 5 compares the models with `metrics()`, step 6's automatic reviewer uses
`review_metrics()`, and step 5's checkpoint requires `key_metrics`. Two sample tasks ship:
``math_tutor`` (a style and format task: a 135M model learns the layout, not the
arithmetic) and ``support_routing`` (a classification task: the model learns to route
messages, so accuracy itself rises); ``own_data`` stands for a learner's uploaded file,
measured by word overlap with its reference answers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from .metrics import (
    Metric,
    correct_arithmetic,
    default_metrics,
    exact_match,
    format_compliance,
    json_fields_match,
    rouge_l,
    token_f1,
    valid_json,
)

MATH_FORMAT = r"Step 1:.*Answer: -?[\d,.]+\s*$"
ROUTING_FIELDS = ("category", "priority")


@dataclass(frozen=True)
class Task:
    name: str
    title: str
    sample: str  # its file in data/samples/
    what_it_teaches: str
    metrics: Callable[[], list[Metric]]
    review_metrics: Callable[[], list[Metric]]  # pass/fail: the automatic reviewer prefers the answer passing more
    key_metrics: tuple[str, ...]  # the metrics step 5 must report
    max_tokens: int  # enough for a full answer at evaluation


TASKS = {
    "math_tutor": Task(
        "math_tutor",
        "Math tutor: step-by-step explanations",
        "math_tutor.jsonl",
        "a style and format (a small model learns the layout, not the arithmetic)",
        lambda: [*default_metrics(format_check=MATH_FORMAT), correct_arithmetic()],
        # the right final answer first; between two answers alike in that, the one with more right sums
        lambda: [format_compliance(MATH_FORMAT), exact_match(), correct_arithmetic()],
        ("format compliance", "answer accuracy"),
        160,
    ),
    "support_routing": Task(
        "support_routing",
        "Support routing: category and priority as JSON",
        "support_routing.jsonl",
        "a classification (the model learns which words mean which category and priority)",
        lambda: [
            valid_json(ROUTING_FIELDS),
            json_fields_match(ROUTING_FIELDS),
            json_fields_match(("category",), "category accuracy"),
            json_fields_match(("priority",), "priority accuracy"),
        ],
        lambda: [valid_json(ROUTING_FIELDS), json_fields_match(ROUTING_FIELDS)],
        ("valid JSON", "label accuracy"),
        32,
    ),
    "own_data": Task(
        "own_data",
        "Your own data",
        "",
        "what your examples show (measured by overlap with the reference answers)",
        lambda: [token_f1(), rouge_l()],
        lambda: [token_f1(), rouge_l()],
        ("token F1",),
        256,
    ),
}
DEFAULT_TASK = "math_tutor"


def with_graders(task: Task, graders: Sequence[Mapping[str, Any]], grading: Any) -> Task:
    """The task measured by `graders` (a learner's own definition of success, `ftwidgets.graders`): step 5 compares
    on every one of them, and step 6's automatic reviewer and step 8's pairs prefer the answer that earns more."""
    from .graders import as_metric

    def metrics() -> list[Metric]:
        return [as_metric(grader, grading) for grader in graders]

    names = tuple(grader["name"] for grader in graders)
    what = "what your graders check: " + ", ".join(names)
    return replace(task, metrics=metrics, review_metrics=metrics, key_metrics=names, what_it_teaches=what)


def get_task(name: str) -> Task:
    try:
        return TASKS[name]
    except KeyError:
        raise ValueError(f"no task {name!r}: choose one of {', '.join(TASKS)}") from None
