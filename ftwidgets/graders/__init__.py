"""OpenAI's graders, run locally: what success means for a task, defined once and used by every step.

`check_grader` checks a grader object, `Grading.run` runs one on an answer (OpenAI's result shape),
`propose_graders` proposes graders from a learner's own examples, `preview` runs them on the references, and
`as_metric` makes a grader the `Metric` that step 5 compares, step 6 reviews with and step 8 judges pairs by.
"""

from .definitions import TYPES, GraderError, check_grader
from .propose import propose_graders, read_examples
from .run import ChatFn, GraderRun, Grading, client_chat, grader_item
from .suite import (
    GRADERS_FILE,
    GraderPreview,
    as_metric,
    check_graders,
    graders_for,
    load_graders,
    preview,
    save_graders,
    save_graders_for,
)

__all__ = [
    "GRADERS_FILE",
    "TYPES",
    "ChatFn",
    "GraderError",
    "GraderPreview",
    "GraderRun",
    "Grading",
    "as_metric",
    "check_grader",
    "check_graders",
    "client_chat",
    "grader_item",
    "graders_for",
    "load_graders",
    "preview",
    "propose_graders",
    "read_examples",
    "save_graders",
    "save_graders_for",
]
