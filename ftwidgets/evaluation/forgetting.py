"""What fine-tuning broke: the base and the fine-tuned model on what the task is not.

A small model tuned on one format often forces it onto every question ("What is the capital of Japan?" answered
"Step 1: Align the numbers..."). Two checks, both shipped with the project (`data/general/`, written for it):

- 20 everyday prompts, each with a grader a rule can check (a one-word answer, "reply with only yes", a list...),
  asked with the task's own system prompt, the one a learner deploys; and, where the task has a format, whether each
  answer stays out of it. Base against fine-tuned, paired, with McNemar's test and a bootstrap interval.
- The loss (mean negative log-likelihood per token) on 15 passages of everyday prose, the cheap check PEFT's
  maintainers suggest: a rise means the model's general language moved. Read through the legacy completions
  endpoint (``echo`` with ``logprobs``), which the embedded engine serves; a backend without it says so.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..graders import Grading
from ..metrics import Metric
from ..runtime.locations import ROOT
from ..stats import paired_bootstrap
from .evaluate import Comparison, EvalItem, compare, evaluate, prompt_key

GENERAL = ROOT / "data" / "general"
ALPHA = 0.05


def general_items(system: str | None, folder: str | os.PathLike = GENERAL) -> list[EvalItem]:
    """The general prompts as test items, each asked with `system` (the task's prompt) and carrying its grader."""
    items = []
    for line in (Path(folder) / "general_prompts.jsonl").read_text().splitlines():
        record = json.loads(line)
        messages = ([{"role": "system", "content": system}] if system else []) + [
            {"role": "user", "content": record["prompt"]}
        ]
        items.append(EvalItem(prompt_key(messages), messages, "", {"messages": messages, "grader": record["grader"]}))
    return items


def general_passages(folder: str | os.PathLike = GENERAL) -> list[str]:
    return [p.strip() for p in (Path(folder) / "general_text.txt").read_text().split("\n\n") if p.strip()]


def general_metrics(grading: Grading, task_format: Metric | None = None) -> list[Metric]:
    """Each prompt's own grader (``general prompts``) and, given the task's format check, ``out of the task's
    format``: 1 when the answer does not take the task's shape."""
    metrics = [
        Metric(
            "general prompts",
            "pass",
            lambda pred, _ref, ex: grading.run(ex["grader"], pred, {}).reward,
            "the everyday request answered as asked",
        )
    ]
    if task_format is not None:
        metrics.append(
            Metric(
                "out of the task's format",
                "pass",
                lambda pred, ref, ex: 1.0 - task_format.score(pred, ref, ex),
                f"the answer does not take the task's shape ({task_format.name})",
            )
        )
    return metrics


def passage_losses(client: Any, model: str, passages: Sequence[str]) -> list[float]:
    """Each passage's mean negative log-likelihood per token under `model`, read from the completions endpoint's
    echoed log-probabilities (a token without one, as OpenAI gives the first, is not counted)."""
    scored = client.completions.create(model=model, prompt=list(passages), max_tokens=0, echo=True, logprobs=0)
    losses = []
    for choice in sorted(scored.choices, key=lambda c: getattr(c, "index", 0)):
        values = [v for v in (choice.logprobs.token_logprobs or []) if v is not None]
        losses.append(-sum(values) / len(values) if values else float("nan"))
    return losses


@dataclass
class Forgetting:
    """Base against fine-tuned on what the task is not."""

    comparison: Comparison  # on the general prompts
    loss: dict[str, Any] = field(default_factory=dict)  # base, fine_tuned, delta, low, high (or "unavailable")

    def worse(self) -> list[str]:
        """What got worse beyond chance, in words."""
        found = [
            f"{r.metric} {r.baseline:.0%} -> {r.candidate:.0%} ({r.delta * 100:+.0f} points, 95% CI "
            f"[{r.low * 100:+.0f}, {r.high * 100:+.0f}])"
            for r in self.comparison.results
            if r.high < 0 and r.p_value < ALPHA
        ]
        if self.loss.get("low") is not None and self.loss["low"] > 0:
            found.append(
                f"loss on everyday text {self.loss['base']:.2f} -> {self.loss['fine_tuned']:.2f} "
                f"(+{self.loss['delta']:.2f}, 95% CI [{self.loss['low']:+.2f}, {self.loss['high']:+.2f}])"
            )
        return found

    def sentence(self) -> str:
        n = len(self.comparison.evaluation.items)
        parts = [
            f"{r.metric}: base {r.baseline:.0%}, fine-tuned {r.candidate:.0%} ({r.delta * 100:+.0f} points, 95% CI "
            f"[{r.low * 100:+.0f}, {r.high * 100:+.0f}])"
            for r in self.comparison.results
        ]
        if "delta" in self.loss:
            parts.append(
                f"loss on everyday text: base {self.loss['base']:.2f}, fine-tuned {self.loss['fine_tuned']:.2f} "
                f"({self.loss['delta']:+.2f}, 95% CI [{self.loss['low']:+.2f}, {self.loss['high']:+.2f}])"
            )
        elif self.loss.get("unavailable"):
            parts.append(f"loss on everyday text: not measured ({self.loss['unavailable']})")
        worse = self.worse()
        head = (
            "What fine-tuning broke, on " + str(n) + " everyday prompts: " + "; ".join(worse) + "."
            if worse
            else f"Nothing measured got worse beyond chance on {n} everyday prompts and everyday text."
        )
        return head + "\n- " + "\n- ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "items": len(self.comparison.evaluation.items),
            "results": self.comparison.to_dict()["results"],
            "loss": self.loss,
            "worse": self.worse(),
            "sentence": self.sentence(),
        }


def check_forgetting(
    client: Any,
    models: Mapping[str, str],
    *,
    system: str | None,
    grading: Grading,
    cache_dir: str | os.PathLike,
    task_format: Metric | None = None,
    max_tokens: int = 64,
    folder: str | os.PathLike = GENERAL,
    resamples: int = 10_000,
) -> Forgetting:
    """Base (``models["base"]``) against fine-tuned (``models["fine_tuned"]``) on the general prompts, asked with the
    task's `system` prompt, and on the loss of the everyday passages."""
    import openai

    items = general_items(system, folder)
    answers = evaluate(
        client,
        items,
        {"base": models["base"], "fine_tuned": models["fine_tuned"]},
        cache_dir=Path(cache_dir) / "general",
        concurrency=32,
        max_tokens=max_tokens,
    )
    comparison = compare(answers, general_metrics(grading, task_format), resamples=resamples)
    passages = general_passages(folder)
    try:
        base = np.array(passage_losses(client, models["base"], passages))
        tuned = np.array(passage_losses(client, models["fine_tuned"], passages))
    except (openai.APIStatusError, openai.APIConnectionError) as exc:  # OpenAI's own models: 404, no echo
        why = getattr(exc, "message", None) or str(exc)
        return Forgetting(comparison, {"unavailable": f"the backend gives no log-probabilities of a text: {why}"})
    boot = paired_bootstrap(base, tuned, resamples=resamples)
    loss = {
        "passages": len(passages),
        "base": float(base.mean()),
        "fine_tuned": float(tuned.mean()),
        "delta": boot.delta,
        "low": boot.low,
        "high": boot.high,
    }
    return Forgetting(comparison, loss)
