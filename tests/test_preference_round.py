"""Step 8's round: preference prompts never come from the test split, two sampled answers make a pair, the pairs
are split and validated, and the verdict says plainly when preference tuning did not help."""

from types import SimpleNamespace as NS

import pytest

from ftwidgets.data.dataset import load_jsonl, write_jsonl
from ftwidgets.data.split import split_file
from ftwidgets.evaluation.evaluate import HeldOutError, held_out_test_items, to_eval_items
from ftwidgets.metrics import correct_arithmetic, exact_match
from ftwidgets.review.preference_round import (
    SAMPLES,
    check_apart,
    preference_prompts,
    round_verdict,
    sampled_pairs,
    split_pairs,
    write_pairs,
)
from ftwidgets.review.review_store import ReviewStore, preference_records, rule_review

from .conftest import SAMPLES as SAMPLE_DIR


@pytest.fixture
def split(tmp_path):
    split_file(SAMPLE_DIR / "math_tutor.jsonl", tmp_path / "split", seed=0)
    return tmp_path / "split"


def test_preference_prompts_never_overlap_the_test_split(split):
    prompts = preference_prompts(split)
    test_ids = {item.id for item in held_out_test_items(split)}
    train_ids = {i.id for name in ("train", "validation") for i in to_eval_items(load_jsonl(split / f"{name}.jsonl"))}
    assert prompts and not {p.id for p in prompts} & test_ids
    assert {p.id for p in prompts} == train_ids  # every distinct training and validation prompt, each once
    assert [p.id for p in preference_prompts(split, limit=10)] == [p.id for p in prompts[:10]]  # a fixed order
    with pytest.raises(HeldOutError):
        check_apart(prompts[:3], [prompts[1]])


def test_a_test_prompt_in_the_training_file_is_refused(split):
    train = load_jsonl(split / "train.jsonl")
    write_jsonl(split / "train.jsonl", [*train, load_jsonl(split / "test.jsonl")[0]], overwrite=True)
    with pytest.raises(HeldOutError):
        preference_prompts(split)


class TwoMinds:
    """Answers 7 with seed 1 and 8 with seed 2 (the same for one prompt, to be left out)."""

    def __init__(self):
        self.chat = NS(completions=NS(create=self.create))

    def create(self, model, messages, seed=None, **kw):
        same = "same" in messages[-1]["content"]
        text = "Step 1: 3+4=7\nAnswer: 7" if seed == 1 or same else "Step 1: 3+4=8\nAnswer: 8"
        return NS(choices=[NS(message=NS(content=text), finish_reason="stop")])


def test_two_sampled_answers_make_a_pair_and_the_rule_picks_the_right_one(tmp_path):
    items = to_eval_items(
        [
            {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": "Answer: 7"}]}
            for q in ("3+4?", "4+3?", "same 3+4?")
        ]
    )
    pairs = sampled_pairs(TwoMinds(), "m", items, cache_dir=tmp_path, max_tokens=20)
    assert [p.id for p in pairs] == [items[0].id, items[1].id]  # the prompt answered the same twice is left out
    store = ReviewStore(tmp_path / "reviews.jsonl")
    rule_review(store, pairs, [exact_match(), correct_arithmetic()], labels=SAMPLES)
    records = preference_records(store, pairs)
    assert [r["preferred_output"][0]["content"] for r in records] == ["Step 1: 3+4=7\nAnswer: 7"] * 2
    files = write_pairs(records, tmp_path)
    assert files["train"][1].valid and files["validation"][1].valid
    assert (files["train"][1].usable_examples, files["validation"][1].usable_examples) == (1, 1)


def test_pairs_are_split_with_one_tenth_to_validate_on():
    train, valid = split_pairs([{"n": i} for i in range(120)])
    assert (len(train), len(valid)) == (108, 12) and not {r["n"] for r in train} & {r["n"] for r in valid}
    assert split_pairs([{"n": 0}]) == ([{"n": 0}], [])


def result(metric, low, high, p):
    return NS(metric=metric, low=low, high=high, p_value=p)


def test_the_verdict_says_plainly_when_it_did_not_help():
    flat = NS(results=[result("answer accuracy", -0.05, 0.08, 0.6), result("token F1", 0.01, 0.03, 0.01)])
    assert round_verdict(flat, ["answer accuracy"]).startswith("Preference tuning did not help")
    better = NS(results=[result("answer accuracy", 0.02, 0.12, 0.01)])
    assert round_verdict(better, ["answer accuracy"]).startswith("Preference tuning helped: answer accuracy")
    worse = NS(results=[result("answer accuracy", -0.2, -0.05, 0.001), result("correct arithmetic", 0.01, 0.1, 0.02)])
    assert "made answer accuracy worse" in round_verdict(worse, ["answer accuracy", "correct arithmetic"])


def test_gathering_stops_once_enough_pairs_have_a_winner(tmp_path):
    from ftwidgets.review.preference_round import gather_pairs

    items = to_eval_items(
        [
            {"messages": [{"role": "user", "content": f"{i}: 3+4?"}, {"role": "assistant", "content": "Answer: 7"}]}
            for i in range(10)
        ]
    )
    client = TwoMinds()
    asked = []
    create = client.create
    client.chat.completions.create = lambda **kw: asked.append(1) or create(**kw)
    store = ReviewStore(tmp_path / "reviews.jsonl")
    pairs = gather_pairs(
        client,
        "m",
        items,
        store,
        [exact_match(), correct_arithmetic()],
        enough=3,
        chunk=2,
        cache_dir=tmp_path,
        max_tokens=20,
    )
    assert len(pairs) == 4 and len(preference_records(store, pairs)) == 4  # two chunks of two: the first with 3 or more
    assert len(asked) == 8  # two answers for each of the 4 prompts sampled, none for the 6 left


def test_after_the_first_chunk_gathering_samples_only_what_the_rest_needs(tmp_path):
    """Half the prompts give a winner (the others are answered the same twice). For 26 winners in chunks of at most
    20: 20 prompts (10 winners), 20 more (20), then the 14 the last 6 need at that rate plus a tenth: 54 prompts
    sampled, where whole chunks would have sampled 60."""
    from ftwidgets.review.preference_round import gather_pairs

    conversation = lambda i: [  # noqa: E731
        {"role": "user", "content": f"{i}: {'same ' if i % 2 else ''}3+4?"},
        {"role": "assistant", "content": "Answer: 7"},
    ]
    items = to_eval_items([{"messages": conversation(i)} for i in range(100)])
    client, asked = TwoMinds(), []
    create = client.create
    client.chat.completions.create = lambda **kw: asked.append(1) or create(**kw)
    store = ReviewStore(tmp_path / "reviews.jsonl")
    metrics = [exact_match(), correct_arithmetic()]
    pairs = gather_pairs(client, "m", items, store, metrics, enough=26, chunk=20, cache_dir=tmp_path, max_tokens=20)
    assert len(asked) == 2 * 54 and len(pairs) == len(preference_records(store, pairs)) == 27


def test_a_round_whose_pairs_rarely_differ_stops_in_its_first_slice_with_the_projection():
    """64 of the first 100 prompts gave identical answers and 26 a winner: 367 prompts project to about 95 pairs,
    short of 112, so the round stops after that slice with the numbers and the ways on."""
    import pytest

    from ftwidgets.data.dataset import DataError
    from ftwidgets.review.preference_round import NotEnoughPairs, check_reachable
    from ftwidgets.runtime.plain_errors import plain_message

    with pytest.raises(NotEnoughPairs) as short:
        check_reachable(112, sampled=100, differing=36, winners=26, prompts=367)
    said = str(short.value)
    assert "64 gave two identical answers and 26 a pair with a winner (26%)" in said
    assert "about 95, short of the 112" in said and "higher sampling temperature" in said and "reinforcement" in said
    assert isinstance(short.value, DataError) and plain_message(short.value) == said  # said plainly, no traceback
    check_reachable(112, sampled=100, differing=60, winners=40, prompts=367)  # projects to 147: sampling goes on
    check_reachable(0, sampled=48, differing=10, winners=2, prompts=48)  # QUICK asks for none: a rehearsal
    with pytest.raises(NotEnoughPairs):
        check_reachable(112, sampled=367, differing=200, winners=105, prompts=367)  # every prompt sampled, still short


def test_gather_pairs_stops_after_its_first_slice_when_the_rest_cannot_be_enough(tmp_path):
    from ftwidgets.review.preference_round import NotEnoughPairs, gather_pairs

    mind = TwoMinds()
    asked = []
    create = mind.create
    mind.chat.completions.create = lambda **kw: asked.append(1) or create(**kw)
    questions = [f"same {n}+4?" if n % 4 else f"{n}+4?" for n in range(300)]  # three in four answer the same twice
    items = to_eval_items(
        [
            {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": "Answer: 7"}]}
            for q in questions
        ]
    )
    store = ReviewStore(tmp_path / "reviews.jsonl")
    with pytest.raises(NotEnoughPairs, match="of the first 100 prompts, 75 gave two identical answers"):
        gather_pairs(mind, "m", items, store, [exact_match()], enough=112, chunk=100, cache_dir=tmp_path, max_tokens=20)
    assert len(asked) == 200  # two answers to each of the first 100 prompts, and no more
