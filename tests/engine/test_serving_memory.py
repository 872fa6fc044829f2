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
