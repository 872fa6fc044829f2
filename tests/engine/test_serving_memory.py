"""The chat models make room for a trainer: released before training, loaded again by the next chat request."""

import time

import pytest

pytestmark = pytest.mark.slow  # loads the real model


def test_released_models_come_back_on_the_next_request(engine, client):
    generator = engine._server.config.app.state.engine.generator
    ask = lambda: client.chat.completions.create(  # noqa: E731
        model="smollm2-135m-instruct", messages=[{"role": "user", "content": "Say hi."}], max_tokens=5, temperature=0)
    first = ask().choices[0].message.content
    assert generator._bases
    generator.release()  # what the job runner does before it starts a trainer
    deadline = time.monotonic() + 30
    while generator._bases and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not generator._bases
    assert ask().choices[0].message.content == first and generator._bases  # loaded again, same greedy answer


def test_an_idle_engine_gives_its_chat_models_memory_back(tmp_path):
    """After serving (step 5's answers), an engine left idle drops its models and returns their memory to the
    system, so a learner's session between lessons does not carry them; the next request loads them again."""
    import psutil

    from ftwidgets.engine import start

    handle = start(tmp_path / "engine", api_key="k", threads=1, serving_idle_release=2.0)
    try:
        client = handle.client(max_retries=0, _strict_response_validation=True)
        generator = handle._server.config.app.state.engine.generator
        ask = lambda: client.chat.completions.create(  # noqa: E731
            model="smollm2-135m-instruct", messages=[{"role": "user", "content": "Say hi."}], max_tokens=5, temperature=0)
        first = ask().choices[0].message.content
        serving = psutil.Process().memory_info().rss
        deadline = time.monotonic() + 30
        while generator._bases and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(0.5)
        idle = psutil.Process().memory_info().rss
        print(f"serving {serving / 2**20:.0f} MB, idle {idle / 2**20:.0f} MB")
        assert not generator._bases and generator.idle_releases == 1
        assert serving - idle > 150 * 2**20, (serving, idle)  # the weights (270 MB in bfloat16) went back
        assert ask().choices[0].message.content == first and generator._bases
    finally:
        handle.stop()
