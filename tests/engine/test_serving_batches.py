"""How the chat worker gathers concurrent requests into batches (the model is replaced by a recorder)."""

import time

from ftwidgets.engine.chat_models import _budgeted
from ftwidgets.engine.serving import Generator
from ftwidgets.engine.serving_types import GenRequest, GenResult


def recording_generator(**options) -> tuple[Generator, list[int]]:
    sizes: list[int] = []
    gen = Generator(**options)

    def generate(batch):
        sizes.append(len(batch))
        time.sleep(0.05)  # a generate call takes a while; more requests queue meanwhile
        return [GenResult("ok", "stop", 1, 1) for _ in batch]

    gen._generate = generate
    return gen, sizes


def request(model: str = "m") -> GenRequest:
    return GenRequest(
        model=model, base=model, adapter=None, messages=[{"role": "user", "content": "hi"}], temperature=0
    )


def test_a_wave_of_requests_a_few_ms_apart_is_one_batch():
    """A client's thread pool sends its next wave spread over tens of milliseconds: the worker keeps gathering
    while they arrive instead of starting a small batch 20 ms after the first."""
    gen, sizes = recording_generator(max_wait=0.02, max_gather=0.25)
    futures = []
    for _ in range(10):
        futures.append(gen.submit(request()))
        time.sleep(0.008)  # 80 ms for the whole wave, more than one 20 ms wait
    assert all(f.result(timeout=5).text == "ok" for f in futures)
    assert sizes == [10]
    gen.close()


def test_a_pause_or_the_cap_ends_a_batch_and_models_never_mix():
    gen, sizes = recording_generator(max_wait=0.02, max_gather=0.25, max_group=4)
    futures = [gen.submit(request()) for _ in range(3)]
    time.sleep(0.1)  # a pause longer than max_wait: the next requests wait for the next batch
    futures += [gen.submit(request("other")), gen.submit(request())]
    [f.result(timeout=5) for f in futures]
    assert sizes[0] == 3 and sorted(sizes[1:]) == [1, 1]  # another model is served in its own batch
    many = [gen.submit(request()) for _ in range(9)]
    [f.result(timeout=5) for f in many]
    assert sizes[3:] == [4, 4, 1]  # never more than max_group at once
    gen.close()


def test_each_answer_of_a_group_is_handed_over_when_it_is_done():
    """The models' process decodes a group's requests many rows at a time and sends each answer as it ends: a short
    answer's client does not wait for the group's longest."""
    gen = Generator(max_wait=0.02, max_gather=0.25)
    finished: list[float] = []

    def generate(batch, on_answer):
        for k in range(len(batch)):
            time.sleep(0.05)
            on_answer(k, GenResult(f"answer {k}", "stop", 1, 1))
        return [GenResult(f"answer {k}", "stop", 1, 1) for k in range(len(batch))]

    gen.models.generate = generate
    futures = [gen.submit(request()) for _ in range(6)]
    for f in futures:
        f.add_done_callback(lambda _: finished.append(time.monotonic()))
    assert [f.result(timeout=5).text for f in futures] == [f"answer {k}" for k in range(6)]
    assert finished[-1] - finished[0] >= 0.2  # one by one, not all at the end
    gen.close()


def test_streams_and_stop_strings_go_to_generate_in_parts_within_the_budget():
    """Hugging Face's `generate` runs every row to the longest: requests with stop strings are split into parts
    of at most `max_rows` whose sizes fit the token budget (a long one alone)."""

    def long(chars: int) -> GenRequest:
        return GenRequest(
            model="m",
            base="m",
            adapter=None,
            messages=[{"role": "user", "content": "x" * chars}],
            temperature=0,
            max_new_tokens=100,
            stop=["\n"],
        )

    assert long(6_000).size() == 1600  # 6,000 characters (about 1,500 tokens) and 100 to answer
    assert _budgeted([long(6_000)] * 7, 32, 4096) == [[0, 1], [2, 3], [4, 5], [6]]
    assert _budgeted([long(40)] * 5, 2, 4096) == [[0, 1], [2, 3], [4]]
    assert _budgeted([long(40_000)] * 2, 32, 4096) == [[0], [1]]  # over the budget alone: still answered
