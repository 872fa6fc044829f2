"""Base model against fine-tuned model on the held-out test set: generate, score, compare.

Generation goes through any `openai.OpenAI` client with bounded concurrency (which the
embedded engine turns into batched calls), lets the client retry transient errors, and appends every
answer to a cache file the moment it arrives, so a crashed or restarted run resumes
where it stopped. Only the test split is evaluated: `held_out_test_items` refuses a
test set that shares prompts with the training or validation data.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..base_models import refuse_after_openai_end
from ..data.dataset import DataError, Example, load_jsonl
from ..metrics import Metric
from ..runtime.safe_files import append_durably, atomic_write, dump_json, read_log
from ..stats import mcnemar_exact, paired_bootstrap, verdict_sentence


@dataclass(frozen=True)
class EvalItem:
    """One test example: the prompt (every message before the last assistant turn) and the reference answer."""

    id: str
    messages: list[dict[str, Any]]
    reference: str
    example: dict[str, Any] = field(repr=False)


def prompt_key(messages: Sequence[Mapping[str, Any]]) -> str:
    return hashlib.sha256(dump_json([[m.get("role"), m.get("content")] for m in messages], sort_keys=True)).hexdigest()[
        :16
    ]


def to_eval_items(examples: Iterable[Example]) -> list[EvalItem]:
    """Turn chat examples into prompts plus reference answers."""
    items = []
    for n, ex in enumerate(examples, 1):
        msgs = ex.get("messages") or []
        last = max((i for i, m in enumerate(msgs) if m.get("role") == "assistant"), default=None)
        if last is None or not isinstance(msgs[last].get("content"), str):
            raise DataError(f"test example {n} has no assistant answer to compare against")
        # only what a chat request accepts: training-only keys such as "weight" are dropped
        prompt = [{k: m[k] for k in ("role", "content", "name") if k in m} for m in msgs[:last]]
        items.append(EvalItem(prompt_key(prompt), prompt, msgs[last]["content"], dict(ex)))
    return items


class HeldOutError(ValueError):
    """The test set shares prompts with the data the model was trained or tuned on."""


def check_held_out(items: Sequence[EvalItem], *seen: Iterable[Example]) -> None:
    """Refuse to evaluate on prompts the model has seen in training or validation."""
    seen_keys = {item.id for data in seen for item in to_eval_items(data)}
    leaked = [i for i, item in enumerate(items, 1) if item.id in seen_keys]
    if leaked:
        raise HeldOutError(
            f"{len(leaked)} test prompt(s) also appear in training or validation data (test items {leaked[:5]}"
            f"{'...' if len(leaked) > 5 else ''}): evaluate only on the held-out test split (step 3 makes one)"
        )


class HeldOutItems(list):
    """Test items, each distinct prompt once; `repeats` counts the exact copies set aside, so every "n" a learner
    reads (the evaluation's, its intervals', the review's) is the number of distinct prompts."""

    repeats: int = 0

    def note(self) -> str:
        return (
            f"{len(self):,} distinct test prompts ({self.repeats:,} exact repeat{'s' if self.repeats != 1 else ''} "
            "counted once)"
            if self.repeats
            else f"{len(self):,} distinct test prompts"
        )


def distinct_items(items: Iterable[EvalItem]) -> HeldOutItems:
    """Each prompt once, the first of its copies kept: a repeated prompt would be counted as independent evidence."""
    out, seen = HeldOutItems(), set()
    for item in items:
        if item.id in seen:
            out.repeats += 1
        else:
            seen.add(item.id)
            out.append(item)
    return out


def held_out_test_items(folder: str | os.PathLike) -> HeldOutItems:
    """The held-out test split of a step-3 folder, checked against its train and validation files, each distinct
    prompt once (`distinct_items`)."""
    folder = Path(folder)
    items = to_eval_items(load_jsonl(folder / "test.jsonl"))
    others = [load_jsonl(folder / name) for name in ("train.jsonl", "validation.jsonl") if (folder / name).exists()]
    check_held_out(items, *others)
    return distinct_items(items)


class OutputCache:
    """Generated answers on disk, one JSONL line each, appended and flushed as they arrive.

    A run that crashes (or a kernel that is restarted) loses at most the answers in
    flight; the next run reads the file and only asks for what is missing.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._answers: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        for record in read_log(self.path):  # a line cut short by a crash: that answer is simply asked for again
            if isinstance(record, dict) and "key" in record:
                self._answers[record["key"]] = record

    @staticmethod
    def key(model: str, messages: Sequence[Mapping[str, Any]], params: Mapping[str, Any]) -> str:
        return hashlib.sha256(
            dump_json({"model": model, "messages": list(messages), "params": dict(params)}, sort_keys=True)
        ).hexdigest()

    def get(self, key: str) -> dict[str, Any] | None:
        return self._answers.get(key)

    def put(self, key: str, record: dict[str, Any]) -> None:
        record = {"key": key, **record}
        with self._lock:
            append_durably(self.path, record)
            self._answers[key] = record

    def __len__(self) -> int:
        return len(self._answers)


@dataclass(frozen=True)
class Generation:
    text: str
    error: str | None = None
    cached: bool = False
    prompt_tokens: int | None = None  # as the backend counted them (its usage), where it said
    completion_tokens: int | None = None
    seconds: float | None = None  # from sending the request to its answer: what a user waits


@dataclass(frozen=True)
class System:
    """One system step 5 compares: a model, prompted as the test item says (zero-shot) or with `shots`, worked
    examples from the training split put before the question (few-shot prompting, the baseline to beat)."""

    model: str
    shots: tuple[tuple[str, str], ...] = ()  # (user, assistant) turns from the training split
    budget: int | None = None  # the prompt budget the shots were chosen to fit (more would not)

    @property
    def prompting(self) -> str:
        if not self.shots:
            return "zero-shot"
        fits = f", as many as fit {self.budget} tokens" if self.budget else ""
        return f"{len(self.shots)} examples in the prompt{fits}"

    def messages(self, item: EvalItem) -> list[dict[str, Any]]:
        """The item's prompt with the shots after its system message, as alternating user and assistant turns."""
        if not self.shots:
            return item.messages
        system = [m for m in item.messages if m.get("role") == "system"][:1]
        rest = [m for m in item.messages if m.get("role") != "system"]
        turns = [
            {"role": r, "content": c} for user, answer in self.shots for r, c in (("user", user), ("assistant", answer))
        ]
        return [*system, *turns, *rest]


def generate(
    client: Any,
    model: str | System,
    items: Sequence[EvalItem],
    *,
    cache: OutputCache,
    concurrency: int = 8,
    max_tokens: int = 256,
    temperature: float = 0.0,
    seed: int | None = 0,
    retries: int = 3,
    on_progress: Callable[[int, int], None] | None = None,
) -> list[Generation]:
    """Answers of one model to every test prompt, ``concurrency`` requests at a time, cached on disk.

    Transient errors (connection, timeout, 408/409/429, 5xx) are retried ``retries`` times by
    the `openai` client itself, with its backoff; what still fails, or what the server refuses
    (4xx), is recorded as an error for that item and asked again on the next run. Nothing is
    raised for one bad item.
    """
    import openai

    system = model if isinstance(model, System) else System(model)
    model = system.model
    caller = client.with_options(max_retries=retries) if hasattr(client, "with_options") else client
    params = {"max_tokens": max_tokens, "temperature": temperature, "seed": seed}
    results: list[Generation | None] = [None] * len(items)
    done = [0]
    lock = threading.Lock()

    def one(i: int) -> None:
        item = items[i]
        messages = system.messages(item)
        key = OutputCache.key(model, messages, params)
        hit = cache.get(key)
        try:
            if hit is not None:
                results[i] = Generation(
                    hit["text"], None, True, hit.get("prompt_tokens"), hit.get("completion_tokens"), hit.get("seconds")
                )
            else:
                started = time.perf_counter()
                reply = caller.chat.completions.create(model=model, messages=messages, **params)
                seconds = time.perf_counter() - started
                text = reply.choices[0].message.content or ""
                usage = getattr(reply, "usage", None)
                tokens = (usage.prompt_tokens, usage.completion_tokens) if usage is not None else (None, None)
                cache.put(
                    key,
                    {
                        "model": model,
                        "item": item.id,
                        "text": text,
                        "finish_reason": reply.choices[0].finish_reason,
                        "prompt_tokens": tokens[0],
                        "completion_tokens": tokens[1],
                        "seconds": seconds,
                    },
                )
                results[i] = Generation(text, None, False, tokens[0], tokens[1], seconds)
        except openai.APIStatusError as exc:
            results[i] = Generation("", error=f"{exc.status_code}: {exc.message}")
        except openai.APIError as exc:  # no answer at all (connection, timeout) after the client's retries
            results[i] = Generation("", error=f"{type(exc).__name__}: {exc}")
        with lock:
            done[0] += 1
            if on_progress:
                on_progress(done[0], len(items))

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        list(pool.map(one, range(len(items))))
    return [r if r is not None else Generation("", error="not generated") for r in results]


@dataclass
class Evaluation:
    """Every model's answer to every test item (labels such as ``"base"`` and ``"fine_tuned"``)."""

    items: list[EvalItem]
    models: dict[str, str]
    outputs: dict[str, list[Generation]]
    prompting: dict[str, str] = field(default_factory=dict)  # label -> "zero-shot" or "4 examples in the prompt"

    def answers(self, label: str) -> list[str]:
        return [g.text for g in self.outputs[label]]

    def usage(self, label: str) -> dict[str, float | None]:
        """A system's mean prompt and answer tokens per request and its mean seconds per answer (None where the
        backend did not say)."""

        def mean(values: list) -> float | None:
            known = [v for v in values if v is not None]
            return sum(known) / len(known) if known else None

        gens = self.outputs[label]
        return {
            "prompt_tokens": mean([g.prompt_tokens for g in gens]),
            "completion_tokens": mean([g.completion_tokens for g in gens]),
            "seconds": mean([g.seconds for g in gens]),
        }

    def errors(self) -> dict[str, int]:
        return {label: sum(g.error is not None for g in gens) for label, gens in self.outputs.items()}

    def select(self, indices: Iterable[int]) -> Evaluation:
        """The same models' answers on some of the items (e.g. only those that have a reference answer)."""
        keep = list(indices)
        return Evaluation(
            [self.items[i] for i in keep],
            dict(self.models),
            {label: [gens[i] for i in keep] for label, gens in self.outputs.items()},
            dict(self.prompting),
        )

    def save(self, path: str | os.PathLike) -> Path:
        """One line per test item with the prompt, the reference and each model's answer (what review reads)."""
        path = Path(path)
        with atomic_write(path) as fh:
            fh.write(dump_json({"models": self.models, "prompting": self.prompting}) + b"\n")
            for i, item in enumerate(self.items):
                fh.write(
                    dump_json(
                        {
                            "id": item.id,
                            "messages": item.messages,
                            "reference": item.reference,
                            "answers": {label: self.outputs[label][i].text for label in self.outputs},
                            "errors": {
                                label: self.outputs[label][i].error
                                for label in self.outputs
                                if self.outputs[label][i].error
                            },
                        }
                    )
                    + b"\n"
                )
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Evaluation:
        lines = load_jsonl(path)  # a bad line raises DataError naming it
        if not lines or "models" not in lines[0]:
            raise DataError(f"{path} is not an evaluation file written by Evaluation.save")
        models = lines[0]["models"]
        items, outputs = [], {label: [] for label in models}
        for rec in lines[1:]:
            items.append(
                EvalItem(
                    rec["id"],
                    rec["messages"],
                    rec["reference"],
                    {"messages": rec["messages"] + [{"role": "assistant", "content": rec["reference"]}]},
                )
            )
            for label in models:
                outputs[label].append(Generation(rec["answers"][label], rec.get("errors", {}).get(label), cached=True))
        return cls(items, models, outputs, dict(lines[0].get("prompting") or {}))


def evaluate(
    client: Any,
    items: Sequence[EvalItem],
    models: Mapping[str, str | System],
    *,
    cache_dir: str | os.PathLike,
    on_progress: Callable[[str, int, int], None] | None = None,
    **generate_kw: Any,
) -> Evaluation:
    """Answers from each system to the same test prompts: a model by name (e.g. ``{"base": ..., "fine_tuned":
    ...}``), or a `System` that prompts it with examples (``"few_shot": few_shot_system(...)``)."""
    cache = OutputCache(Path(cache_dir) / "answers.jsonl")
    systems = {label: m if isinstance(m, System) else System(m) for label, m in models.items()}
    for system in systems.values():  # a model OpenAI has retired: said before any request
        refuse_after_openai_end(client, system.model, jobs=False)
    outputs = {}
    for label, system in systems.items():
        progress = (lambda d, n, label=label: on_progress(label, d, n)) if on_progress else None
        outputs[label] = generate(client, system, items, cache=cache, on_progress=progress, **generate_kw)
    return Evaluation(
        list(items),
        {label: s.model for label, s in systems.items()},
        outputs,
        {label: s.prompting for label, s in systems.items()},
    )


@dataclass(frozen=True)
class MetricComparison:
    """One metric, baseline against candidate, on the same items."""

    metric: str
    kind: str
    baseline: float
    candidate: float
    delta: float
    low: float
    high: float
    p_value: float
    test: str
    wins: int
    losses: int
    ties: int
    sentence: str


@dataclass
class Comparison:
    """Every metric's comparison, the per-item scores, and a plain verdict."""

    baseline: str
    candidate: str
    results: list[MetricComparison]
    scores: dict[str, dict[str, np.ndarray]]  # metric -> label -> per-item scores
    evaluation: Evaluation

    def verdict(self) -> str:
        lines = [r.sentence for r in self.results]
        errors = {k: v for k, v in self.evaluation.errors().items() if v}
        if errors:
            lines.append(
                "answers that failed to generate count as wrong: " + ", ".join(f"{k} {v}" for k, v in errors.items())
            )
        n = len(self.evaluation.items)
        return f"On {n} held-out test items:\n- " + "\n- ".join(lines)

    def to_dataframe(self):
        import pandas as pd

        return pd.DataFrame([asdict(r) for r in self.results])

    def per_example(self):
        """One row per test item, the items where the models disagree most first."""
        import pandas as pd

        ev = self.evaluation
        rows = []
        for i, item in enumerate(ev.items):
            user = [m["content"] for m in item.messages if m.get("role") == "user"]
            row = {
                "item": i,
                "prompt": user[-1] if user else "",
                "reference": item.reference,
                self.baseline: ev.outputs[self.baseline][i].text,
                self.candidate: ev.outputs[self.candidate][i].text,
            }
            gap = 0.0
            for metric, by_label in self.scores.items():
                b, c = by_label[self.baseline][i], by_label[self.candidate][i]
                row[f"{metric} ({self.baseline})"], row[f"{metric} ({self.candidate})"] = b, c
                gap += abs(c - b)
            row["disagreement"] = gap
            rows.append(row)
        df = pd.DataFrame(rows)
        return df.sort_values(["disagreement", "item"], ascending=[False, True], kind="stable").reset_index(drop=True)

    def to_dict(self) -> dict[str, Any]:
        return {
            "baseline": self.baseline,
            "candidate": self.candidate,
            "models": self.evaluation.models,
            "items": len(self.evaluation.items),
            "errors": self.evaluation.errors(),
            "results": [asdict(r) for r in self.results],
            "verdict": self.verdict(),
        }

    def save(self, folder: str | os.PathLike, **sections: Any) -> dict[str, Path]:
        """``comparison.json`` (with further `sections`, such as step 5's ``worth_it`` and ``forgetting``) and
        ``per_example.csv``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = {"comparison": folder / "comparison.json", "per_example": folder / "per_example.csv"}
        paths["comparison"].write_text(json.dumps({**self.to_dict(), **sections}, indent=2) + "\n")
        self.per_example().to_csv(paths["per_example"], index=False)
        return paths


def resolved_kind(kind: str, *scores: np.ndarray) -> str:
    """A metric's kind, with ``auto`` (a python grader's) decided by its scores: ``pass`` when every one is 0 or 1."""
    if kind != "auto":
        return kind
    return "pass" if all(np.isin(s, (0.0, 1.0)).all() for s in scores) else "score"


def compare(
    evaluation: Evaluation,
    metrics: Sequence[Metric],
    *,
    baseline: str = "base",
    candidate: str = "fine_tuned",
    resamples: int = 10_000,
    seed: int = 0,
) -> Comparison:
    """Score both models with every metric and test each difference on the paired items.

    Pass/fail metrics: McNemar's exact test for the p-value; every metric: a paired
    bootstrap interval of the difference (candidate minus baseline).
    """
    for label in (baseline, candidate):
        if label not in evaluation.outputs:
            raise KeyError(f"no answers labelled {label!r}; have {sorted(evaluation.outputs)}")
    scores: dict[str, dict[str, np.ndarray]] = {}
    results = []
    for metric in metrics:
        per = {
            label: np.array(
                [
                    metric.score(g.text, item.reference, item.example)
                    for g, item in zip(evaluation.outputs[label], evaluation.items)
                ]
            )
            for label in (baseline, candidate)
        }
        scores[metric.name] = per
        a, b = per[baseline], per[candidate]
        kind = resolved_kind(metric.kind, a, b)
        boot = paired_bootstrap(a, b, resamples=resamples, seed=seed)
        if kind == "pass":
            p, test = mcnemar_exact(a, b).p_value, "McNemar exact"
        else:
            p, test = boot.p_value, "paired bootstrap"
        results.append(
            MetricComparison(
                metric.name,
                kind,
                float(a.mean()),
                float(b.mean()),
                boot.delta,
                boot.low,
                boot.high,
                p,
                test,
                int((b > a).sum()),
                int((b < a).sum()),
                int((b == a).sum()),
                verdict_sentence(
                    metric.name, boot.delta, boot.low, boot.high, p, candidate=candidate.replace("_", "-")
                ),
            )
        )
    return Comparison(baseline, candidate, results, scores, evaluation)
