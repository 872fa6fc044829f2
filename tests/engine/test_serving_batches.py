"""How the chat worker gathers concurrent requests into batches (the model is replaced by a recorder)."""

import time

from ftwidgets.engine.serving import Generator, GenRequest, GenResult


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
    gen, sizes = recording_generator(max_wait=0.02, max_gather=0.25, max_batch=4)
    futures = [gen.submit(request()) for _ in range(3)]
    time.sleep(0.1)  # a pause longer than max_wait: the next requests wait for the next batch
    futures += [gen.submit(request("other")), gen.submit(request())]
    [f.result(timeout=5) for f in futures]
    assert sizes[0] == 3 and sorted(sizes[1:]) == [1, 1]  # another model is served in its own batch
    many = [gen.submit(request()) for _ in range(9)]
    [f.result(timeout=5) for f in many]
    assert sizes[3:] == [4, 4, 1]  # never more than max_batch at once
    gen.close()


def test_long_prompts_batch_fewer_at_a_time():
    """A batch's memory grows with its rows times their length: 32 short prompts go together, long ones (a few-shot
    prompt of worked examples) stop a batch at its token budget, and every request is still answered."""
    gen, sizes = recording_generator(max_wait=0.05, max_gather=0.5)
    short = [gen.submit(request()) for _ in range(16)]
    [f.result(timeout=5) for f in short]
    assert sizes == [16]

    def long() -> GenRequest:
        return GenRequest(
            model="m",
            base="m",
            adapter=None,
            messages=[{"role": "user", "content": "x" * 6_000}],
            temperature=0,
            max_new_tokens=100,
        )

    assert long().size() == 1600  # 6,000 characters (about 1,500 tokens) and 100 to answer
    futures = [gen.submit(long()) for _ in range(7)]
    [f.result(timeout=5) for f in futures]
    assert sizes[1:] == [2, 2, 2, 1]  # two fit the 4,096 tokens, a third would not
    gen.close()
