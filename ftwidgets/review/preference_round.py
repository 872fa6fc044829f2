"""A round of preference tuning on the learner's own prompts, never on the test set's.

Step 8 samples the fine-tuned model twice on prompts of step 3's training and validation splits, has each pair
of answers reviewed blind (the learner's clicks, and the ``rule:`` reviewer, so the round also runs headless),
and turns the decisions with a winner into DPO pairs for a job that starts from the fine-tuned model. The test
split stays untouched for the comparison that follows: `preference_prompts` refuses to hand out a test prompt.
"""

from __future__ import annotations

import math
import os
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..data.dataset import DataError, load_jsonl
from ..evaluation.evaluate import (
    EvalItem,
    HeldOutError,
    OutputCache,
    distinct_items,
    generate,
    held_out_test_items,
    to_eval_items,
)
from .review_store import ReviewItem, ReviewStore, preference_records, rule_review

SAMPLES = ("first", "second")  # the two sampled answers of a prompt, as the blind review labels them
SAMPLE_SEEDS = (1, 2)
SAMPLE_TEMPERATURE = 1.0  # varied enough that two answers differ, as a learner's model answers when asked twice


def preference_prompts(split_folder: str | os.PathLike, *, limit: int | None = None, seed: int = 0) -> list[EvalItem]:
    """Distinct prompts of the split's training and validation files, shuffled (by `seed`), at most `limit`:
    never one of the test split's, which the comparison after the round needs unseen."""
    folder = Path(split_folder)
    test = held_out_test_items(folder)  # also checks that the test split shares no prompt with the others
    pool = [
        item
        for name in ("train.jsonl", "validation.jsonl")
        if (folder / name).exists()
        for item in to_eval_items(load_jsonl(folder / name))
    ]
    prompts = list(distinct_items(pool))
    check_apart(prompts, test)
    random.Random(seed).shuffle(prompts)
    return prompts[:limit]


def check_apart(prompts: Sequence[EvalItem], test: Sequence[EvalItem]) -> None:
    """Refuse preference prompts that are also test prompts (a pair learned from one would leak the test)."""
    shared = {p.id for p in prompts} & {t.id for t in test}
    if shared:
        raise HeldOutError(
            f"{len(shared)} preference prompt(s) are also in the test split: preferences must come "
            "from prompts the evaluation never sees"
        )


def sampled_pairs(
    client: Any,
    model: str,
    prompts: Sequence[EvalItem],
    *,
    cache_dir: str | os.PathLike,
    max_tokens: int,
    concurrency: int = 32,
    temperature: float = SAMPLE_TEMPERATURE,
    on_progress: Callable[[str, int, int], None] | None = None,
) -> list[ReviewItem]:
    """Two answers of `model` to each prompt, sampled with different seeds, as review items labelled `SAMPLES`;
    a prompt whose answers failed or came out the same is left out (there is nothing to prefer)."""
    cache = OutputCache(Path(cache_dir) / "samples.jsonl")
    answers = {}
    for label, seed in zip(SAMPLES, SAMPLE_SEEDS):
        progress = (lambda d, n, label=label: on_progress(label, d, n)) if on_progress else None
        answers[label] = generate(
            client,
            model,
            prompts,
            cache=cache,
            concurrency=concurrency,
            max_tokens=max_tokens,
            temperature=temperature,
            seed=seed,
            on_progress=progress,
        )
    items = []
    for i, prompt in enumerate(prompts):
        first, second = answers[SAMPLES[0]][i], answers[SAMPLES[1]][i]
        if first.error or second.error or first.text.strip() == second.text.strip():
            continue
        items.append(
            ReviewItem(prompt.id, prompt.messages, prompt.reference, {SAMPLES[0]: first.text, SAMPLES[1]: second.text})
        )
    return items


def gather_pairs(
    client: Any,
    model: str,
    prompts: Sequence[EvalItem],
    store: ReviewStore,
    metrics: Sequence[Any],
    *,
    enough: int,
    chunk: int = 100,
    cache_dir: str | os.PathLike,
    max_tokens: int,
    on_progress: Callable[[str, int, int], None] | None = None,
) -> list[ReviewItem]:
    """Sampled pairs, judged by the ``rule:`` reviewer as they come, until `enough` of them have a winner (or the
    prompts run out). Sampling is the round's slowest part, so no more than needed: the first `chunk` prompts show
    how often a prompt gives a winner, and each later chunk is what the rest then needs (`next_chunk`)."""
    pairs: list[ReviewItem] = []
    start, size = 0, chunk
    while start < len(prompts):
        pairs += sampled_pairs(
            client,
            model,
            prompts[start : start + size],
            cache_dir=cache_dir,
            max_tokens=max_tokens,
            on_progress=on_progress,
        )
        start = min(len(prompts), start + size)
        rule_review(store, pairs, metrics, labels=SAMPLES)
        winners = len(preference_records(store, pairs))
        if winners >= enough:
            break
        check_reachable(enough, sampled=start, differing=len(pairs), winners=winners, prompts=len(prompts))
        size = next_chunk(enough - winners, winners / start, chunk)
    return pairs


class NotEnoughPairs(DataError):
    """The pairs sampled so far say the prompts cannot give the DPO job the pairs it needs."""


def check_reachable(enough: int, *, sampled: int, differing: int, winners: int, prompts: int) -> None:
    """Stop the round early, with the projection and a way on, when the rate of pairs with a winner so far cannot
    reach `enough` over every prompt (sampling more would spend minutes that cannot end in training)."""
    if enough <= 0 or sampled >= prompts:
        if enough > 0 and winners < enough:
            raise NotEnoughPairs(_short_of(enough, sampled, differing, winners, prompts, projected=winners))
        return
    projected = winners + winners / sampled * (prompts - sampled)
    if projected < enough:
        raise NotEnoughPairs(_short_of(enough, sampled, differing, winners, prompts, projected=round(projected)))


def _short_of(enough: int, sampled: int, differing: int, winners: int, prompts: int, *, projected: int) -> str:
    same = sampled - differing
    return (
        f"Not enough preference pairs to train on: of the first {sampled} prompts, {same} gave two identical answers "
        f"and {winners} a pair with a winner ({winners / sampled:.0%}). At that rate all {prompts} prompts give about "
        f"{projected}, short of the {enough} a DPO job needs (100 to train on, the rest to validate), so this step "
        "stops here rather than sample for nothing. Ways on: more prompts (a bigger training split), answers that "
        "differ more (a higher sampling temperature), or a method that learns from every graded answer rather than "
        "pairs (reinforcement fine-tuning)."
    )


def next_chunk(missing: int, winner_rate: float, most: int) -> int:
    """How many more prompts to sample for `missing` more winners, at the rate seen so far plus a tenth (so one
    more chunk usually does), at least 8 (a few short never crawl on one prompt at a time) and at most `most`.

    >>> next_chunk(8, 0.52, 100), next_chunk(1, 1.0, 100), next_chunk(60, 0.52, 100), next_chunk(50, 0.0, 100)
    (17, 8, 100, 100)
    """
    if winner_rate <= 0:
        return most
    return min(most, max(8, math.ceil(missing / winner_rate * 1.1)))


def split_pairs(
    records: Sequence[dict], *, validation_share: float = 0.1, seed: int = 0
) -> tuple[list[dict], list[dict]]:
    """Training and validation pairs (at least one of each when there are two or more), in a fixed random order."""
    shuffled = list(records)
    random.Random(seed).shuffle(shuffled)
    n_valid = min(len(shuffled) - 1, max(1, round(validation_share * len(shuffled)))) if len(shuffled) > 1 else 0
    return shuffled[n_valid:], shuffled[:n_valid]


def write_pairs(records: Sequence[dict], folder: str | os.PathLike, *, validation_share: float = 0.1, seed: int = 0):
    """The pairs as a DPO job's training and validation files in `folder`, each checked by the preference validator;
    returns ``{"train": (path, report), "validation": (path, report)}``."""
    from ..data.dataset import write_preferences
    from ..data.validate import validate_preference_file

    train, valid = split_pairs(records, validation_share=validation_share, seed=seed)
    out = {}
    for name, chunk in (("train", train), ("validation", valid)):
        path = Path(folder) / f"preferences_{name}.jsonl"
        write_preferences(path, chunk, overwrite=True)
        out[name] = (path, validate_preference_file(path))
    return out


def round_verdict(comparison: Any, key_metrics: Sequence[str], alpha: float = 0.05) -> str:
    """Whether preference tuning helped, in one plain sentence from the comparison's key metrics: helped only where a
    key metric rose with its interval above zero and p < `alpha`; "did not help" is said as plainly."""
    results = [r for r in comparison.results if r.metric in key_metrics]
    better = [r.metric for r in results if r.low > 0 and r.p_value < alpha]
    worse = [r.metric for r in results if r.high < 0 and r.p_value < alpha]
    if worse:
        return f"Preference tuning made {', '.join(worse)} worse on the test split: keep the fine-tuned model" + (
            f" (it improved {', '.join(better)})." if better else "."
        )
    if better:
        return f"Preference tuning helped: {', '.join(better)} rose on the test split, beyond chance."
    return (
        "Preference tuning did not help: no key metric moved beyond chance on the test split. Keep the fine-tuned "
        "model, or gather more (or clearer) preferences and try again."
    )
