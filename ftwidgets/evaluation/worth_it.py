"""Was fine-tuning worth it? The strongest cheap baseline, prompting the base model with worked examples, measured
beside the zero-shot base and the fine-tuned model on the same test items, with what each costs.

`few_shot_system` puts k examples from the training split before each question (the same k for every item, the
most that keep the longest prompt within `PROMPT_BUDGET` tokens with room for the answer). `worth_it` compares the
fine-tuned model with it on the task's key metrics (paired, with intervals, as step 5 compares with the base) and
weighs prompt tokens, seconds per answer and a hosted backend's price: fine-tuning beat prompting, only matched it
at a lower cost, or prompting was enough. Each is said plainly.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from ..metrics import Metric
from ..tokens import answer_cost, count_message_tokens
from .evaluate import Comparison, EvalItem, Evaluation, System, compare

# tokens of prompt and answer together. The engine reads the shared examples once, but every row it decodes holds
# their keys and values, so longer prompts decode fewer rows at a time: 8 math examples (900 tokens) made step 5
# three times as long (measured before the examples were read once) and its models' process 0.4 GB larger; 512 keeps
# 2-3 math examples and 8 short classification ones
PROMPT_BUDGET = 512
MOST_SHOTS = 8
ALPHA = 0.05


def _turns(example: Mapping[str, Any]) -> tuple[str, str] | None:
    messages = example.get("messages") or []
    users = [m.get("content") for m in messages if m.get("role") == "user"]
    replies = [m.get("content") for m in messages if m.get("role") == "assistant"]
    if not users or not replies or not isinstance(users[-1], str) or not isinstance(replies[-1], str):
        return None
    return users[-1], replies[-1]


def few_shot_system(
    model: str,
    train: Sequence[Mapping[str, Any]],
    items: Sequence[EvalItem],
    *,
    max_tokens: int,
    budget: int = PROMPT_BUDGET,
    most: int = MOST_SHOTS,
    seed: int = 0,
) -> System:
    """`model` prompted with the most worked examples from `train` (drawn at random, seeded, the same for every
    item) that keep every test prompt and its answer within `budget` tokens."""
    pool = [t for t in (_turns(ex) for ex in train) if t is not None]
    random.Random(seed).shuffle(pool)
    for k in range(min(most, len(pool)), 0, -1):
        system = System(model, tuple(pool[:k]), budget)
        if max(count_message_tokens(system.messages(item)) for item in items) + max_tokens <= budget:
            return system
    return System(model)


@dataclass
class SystemCost:
    """What one system costs per answer: prompt and answer tokens, seconds, and a hosted price where one applies."""

    label: str
    model: str
    prompting: str
    prompt_tokens: float | None
    completion_tokens: float | None
    seconds: float | None
    usd_per_1000: float | None  # None on the embedded engine (no per-token charge) or for an unpriced model


def system_costs(evaluation: Evaluation) -> dict[str, SystemCost]:
    costs = {}
    for label, model in evaluation.models.items():
        used = evaluation.usage(label)
        usd = None
        if used["prompt_tokens"] is not None and used["completion_tokens"] is not None:
            one = answer_cost(model, used["prompt_tokens"], used["completion_tokens"])
            usd = None if one is None else one * 1000
        costs[label] = SystemCost(
            label,
            model,
            evaluation.prompting.get(label, "zero-shot"),
            used["prompt_tokens"],
            used["completion_tokens"],
            used["seconds"],
            usd,
        )
    return costs


@dataclass
class WorthIt:
    """Fine-tuned against prompting with examples (and the zero-shot base), with each system's cost."""

    versus_prompting: Comparison  # few_shot (baseline) against fine_tuned (candidate)
    prompting_versus_base: Comparison  # base (baseline) against few_shot (candidate)
    costs: dict[str, SystemCost]
    key_metrics: tuple[str, ...]

    def _moved(self, comparison: Comparison) -> tuple[list[str], list[str]]:
        key = [r for r in comparison.results if r.metric in self.key_metrics]
        better = [r.metric for r in key if r.low > 0 and r.p_value < ALPHA]
        worse = [r.metric for r in key if r.high < 0 and r.p_value < ALPHA]
        return better, worse

    def verdict(self) -> str:
        """Beat prompting, matched it at a lower cost, or prompting was enough: one plain paragraph."""
        better, worse = self._moved(self.versus_prompting)
        tuned, shots = self.costs["fine_tuned"], self.costs["few_shot"]
        saving = ""
        if tuned.prompt_tokens and shots.prompt_tokens and tuned.prompt_tokens < shots.prompt_tokens:
            saving = (
                f"{shots.prompt_tokens - tuned.prompt_tokens:.0f} fewer prompt tokens per request "
                f"({tuned.prompt_tokens / shots.prompt_tokens:.0%} of the few-shot prompt's)"
            )
            if tuned.seconds and shots.seconds:
                saving += f", {tuned.seconds:.1f} s per answer against {shots.seconds:.1f} s"
        if better and not worse:
            text = f"Fine-tuning beat prompting with examples ({shots.prompting}) on {', '.join(better)}, beyond chance"
            return text + (f", and needs {saving}." if saving else ".")
        if worse and not better:
            return (
                f"Prompting with examples was enough: the base model with {shots.prompting} did better than the "
                f"fine-tuned model on {', '.join(worse)}, beyond chance. Fine-tuning did not pay off here."
            )
        if better and worse:
            return (
                f"Mixed: fine-tuning beat prompting with examples on {', '.join(better)} and lost to it on "
                f"{', '.join(worse)}: weigh which matters for your task."
            )
        if saving:
            return (
                "Fine-tuning only matched prompting with examples: no key metric differs beyond chance. It is worth "
                f"it for cost and speed, not for quality: {saving}."
            )
        return (
            "Prompting with examples was enough: it did as well as the fine-tuned model on every key metric, at no "
            "saving in prompt tokens."
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "systems": {label: asdict(cost) for label, cost in self.costs.items()},
            "fine_tuned_versus_few_shot": self.versus_prompting.to_dict()["results"],
            "few_shot_versus_base": self.prompting_versus_base.to_dict()["results"],
            "verdict": self.verdict(),
        }


def worth_it(
    evaluation: Evaluation, metrics: Sequence[Metric], key_metrics: Sequence[str], **compare_kw: Any
) -> WorthIt:
    """The three-way comparison: an evaluation with ``base``, ``few_shot`` and ``fine_tuned`` answers."""
    return WorthIt(
        compare(evaluation, metrics, baseline="few_shot", candidate="fine_tuned", **compare_kw),
        compare(evaluation, metrics, baseline="base", candidate="few_shot", **compare_kw),
        system_costs(evaluation),
        tuple(key_metrics),
    )
