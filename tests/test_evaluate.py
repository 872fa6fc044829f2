"""The evaluation runner: held-out only, bounded concurrency, retries, a cache that survives crashes,
and comparisons that test each metric on the paired items."""

import threading
import time
from types import SimpleNamespace as NS

import httpx
import openai
import pytest

from ftwidgets.data.dataset import DataError, write_jsonl
from ftwidgets.evaluation.evaluate import (
    Evaluation,
    HeldOutError,
    OutputCache,
    compare,
    evaluate,
    generate,
    held_out_test_items,
    to_eval_items,
)
from ftwidgets.metrics import exact_match, format_compliance, token_f1

from .conftest import chat

EXAMPLES = [chat(f"What is {i} + {i}?", f"Step 1: add.\nAnswer: {2 * i}") for i in range(30)]


class ScriptedClient:
    """Answers like a tiny model would: correct with the right format when ``model == 'good'``.

    Records the peak number of requests in flight; can fail the first calls transiently.
    """

    def __init__(self, fail_first=0, fail_with=None, delay=0.01):
        self.lock = threading.Lock()
        self.in_flight = self.peak = self.calls = 0
        self.fail_first, self.fail_with, self.delay = fail_first, fail_with, delay
        self.chat = NS(completions=NS(create=self.create))

    def create(self, model, messages, **kw):
        with self.lock:
            self.calls += 1
            n = self.calls
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        try:
            time.sleep(self.delay)
            if n <= self.fail_first:
                raise self.fail_with
            i = int(messages[-1]["content"].split()[2])
            text = f"Step 1: add.\nAnswer: {2 * i}" if model == "good" else f"it is {2 * i + (i % 2)}"
            return NS(choices=[NS(message=NS(content=text), finish_reason="stop")])
        finally:
            with self.lock:
                self.in_flight -= 1


def _request():
    return httpx.Request("POST", "http://engine/v1/chat/completions")


def test_test_items_split_prompt_and_reference():
    items = to_eval_items(EXAMPLES[:2])
    assert items[0].messages == EXAMPLES[0]["messages"][:-1]
    assert items[0].reference.endswith("Answer: 0")
    assert items[0].id != items[1].id and items[0].id == to_eval_items(EXAMPLES[:1])[0].id
    weighted = {
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "a", "weight": 0},
            {"role": "user", "content": "again"},
            {"role": "assistant", "content": "b"},
        ]
    }
    (item,) = to_eval_items([weighted])
    assert item.messages[1] == {"role": "assistant", "content": "a"} and item.reference == "b"  # no training-only keys
    with pytest.raises(DataError, match="test example 1 has no assistant answer"):
        to_eval_items([{"messages": [{"role": "user", "content": "hi"}]}])


def test_refuses_a_test_set_that_overlaps_training(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", EXAMPLES[:20])
    write_jsonl(tmp_path / "validation.jsonl", EXAMPLES[20:25])
    write_jsonl(tmp_path / "test.jsonl", EXAMPLES[25:])
    assert len(held_out_test_items(tmp_path)) == 5
    write_jsonl(tmp_path / "test.jsonl", EXAMPLES[18:], overwrite=True)
    with pytest.raises(HeldOutError, match="7 test prompt"):
        held_out_test_items(tmp_path)


def test_generate_bounds_concurrency_and_caches(tmp_path):
    client, items = ScriptedClient(delay=0.05), to_eval_items(EXAMPLES)
    cache = OutputCache(tmp_path / "answers.jsonl")
    progress = []
    out = generate(client, "good", items, cache=cache, concurrency=4, on_progress=lambda d, n: progress.append((d, n)))
    assert client.peak == 4 and client.calls == 30
    assert [g.text for g in out] == [ex["messages"][-1]["content"] for ex in EXAMPLES]
    assert progress[-1] == (30, 30) and len(progress) == 30
    # a new run (a restarted kernel) reads the cache file and asks for nothing
    again = generate(client, "good", items, cache=OutputCache(tmp_path / "answers.jsonl"), concurrency=4)
    assert client.calls == 30 and all(g.cached for g in again) and [g.text for g in again] == [g.text for g in out]
    # other settings are other answers
    generate(client, "good", items[:3], cache=cache, max_tokens=10)
    assert client.calls == 33


def test_a_crash_mid_run_resumes_from_the_cache(tmp_path):
    items = to_eval_items(EXAMPLES)
    path = tmp_path / "answers.jsonl"
    generate(ScriptedClient(), "good", items[:12], cache=OutputCache(path))
    with open(path, "ab") as fh:
        fh.write(b'{"key": "abc", "text": "cut sho')  # the process died mid-write
    client = ScriptedClient()
    out = generate(client, "good", items, cache=OutputCache(path))
    assert client.calls == 18 and sum(g.cached for g in out) == 12


def test_transient_errors_are_retried(tmp_path):
    """By the official client's own retries (no second retry loop on top): two 500s, then an answer."""
    calls = []

    def server(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) <= 2:
            return httpx.Response(500, json={"error": {"message": "boom", "type": "server_error", "code": None}})
        return httpx.Response(
            200,
            json={
                "id": "c",
                "object": "chat.completion",
                "created": 0,
                "model": "good",
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": "Step 1: add.\nAnswer: 0"},
                    }
                ],
            },
        )

    client = openai.OpenAI(
        base_url="http://engine/v1",
        api_key="k",
        max_retries=0,
        http_client=httpx.Client(transport=httpx.MockTransport(server)),
    )
    out = generate(client, "good", to_eval_items(EXAMPLES[:1]), cache=OutputCache(tmp_path / "a.jsonl"), retries=3)
    assert out[0].error is None and out[0].text.endswith("Answer: 0") and len(calls) == 3
    calls.clear()
    failing = generate(client, "good", to_eval_items(EXAMPLES[1:2]), cache=OutputCache(tmp_path / "b.jsonl"), retries=1)
    assert failing[0].text == "" and failing[0].error.startswith("500") and len(calls) == 2  # reported, not raised


def test_refused_requests_are_reported_not_raised_or_cached(tmp_path):
    err = openai.BadRequestError("context too long", response=httpx.Response(400, request=_request()), body=None)
    client = ScriptedClient(fail_first=1, fail_with=err)
    cache = OutputCache(tmp_path / "a.jsonl")
    out = generate(client, "good", to_eval_items(EXAMPLES[:2]), cache=cache, concurrency=1)
    assert out[0].text == "" and out[0].error.startswith("400") and out[1].error is None
    assert len(cache) == 1  # the refused item is asked again next time


def test_compare_reports_paired_statistics(tmp_path):
    items = to_eval_items(EXAMPLES)
    ev = evaluate(ScriptedClient(), items, {"base": "weak", "fine_tuned": "good"}, cache_dir=tmp_path, concurrency=8)
    fmt = format_compliance(r"Step 1:.*Answer: \d+$")
    comp = compare(ev, [fmt, exact_match(), token_f1()], resamples=2000)
    by = {r.metric: r for r in comp.results}
    assert by["format compliance"].baseline == 0 and by["format compliance"].candidate == 1
    assert by["format compliance"].test == "McNemar exact"
    assert by["format compliance"].p_value == pytest.approx(2 / 2**30)
    assert by["format compliance"].sentence.startswith("fine-tuned is better on format compliance: +100 points")
    # the weak model is right on even i (15 of 30): accuracy +50 points
    assert (
        by["answer accuracy"].baseline == 0.5 and by["answer accuracy"].wins == 15 and by["answer accuracy"].ties == 15
    )
    assert by["token F1"].test == "paired bootstrap"
    assert "On 30 held-out test items" in comp.verdict()
    table = comp.per_example()
    assert table["disagreement"].is_monotonic_decreasing and len(table) == 30
    saved = comp.save(tmp_path / "out")
    assert saved["comparison"].exists() and saved["per_example"].read_text().count("\n") >= 31


def test_evaluation_save_and_load_round_trip(tmp_path):
    items = to_eval_items(EXAMPLES[:5])
    ev = evaluate(ScriptedClient(), items, {"base": "weak", "fine_tuned": "good"}, cache_dir=tmp_path)
    loaded = Evaluation.load(ev.save(tmp_path / "outputs.jsonl"))
    assert loaded.models == ev.models and loaded.answers("fine_tuned") == ev.answers("fine_tuned")
    assert [i.id for i in loaded.items] == [i.id for i in items]
    assert compare(loaded, [exact_match()], resamples=100).results[0].candidate == 1.0
    with pytest.raises(DataError):
        Evaluation.load(write_jsonl(tmp_path / "x.jsonl", EXAMPLES[:1]) and tmp_path / "x.jsonl")


def test_a_prompt_repeated_in_the_test_split_counts_once(tmp_path):
    """16 test lines with 10 distinct prompts are 10 items: every n (the evaluation's, the intervals', the review's)
    is the number of distinct prompts, and the note says how many repeats were set aside."""
    from ftwidgets.data.dataset import write_jsonl
    from ftwidgets.evaluation.evaluate import held_out_test_items

    def ex(i, answer="a"):
        return {"messages": [{"role": "user", "content": f"question {i}"}, {"role": "assistant", "content": answer}]}

    write_jsonl(tmp_path / "test.jsonl", [ex(i) for i in range(10)] + [ex(i, "another answer") for i in range(6)])
    write_jsonl(tmp_path / "train.jsonl", [ex(100 + i) for i in range(5)])
    items = held_out_test_items(tmp_path)
    assert len(items) == 10 and items.repeats == 6 and len({it.id for it in items}) == 10
    assert items.note() == "10 distinct test prompts (6 exact repeats counted once)"
    assert [it.reference for it in items] == ["a"] * 10  # the first copy is the one kept
