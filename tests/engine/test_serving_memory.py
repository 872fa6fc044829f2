"""The chat models make room for a trainer: released before training, loaded again by the next chat request."""

import time

import pytest

pytestmark = pytest.mark.slow  # loads the real model


def test_released_models_come_back_on_the_next_request(engine, client):
    generator = engine._server.config.app.state.engine.generator
    ask = lambda: client.chat.completions.create(  # noqa: E731
        model="smollm2-135m-instruct", messages=[{"role": "user", "content": "Say hi."}], max_tokens=5, temperature=0
    )
    first = ask().choices[0].message.content
    assert generator._bases
    generator.release()  # what the job runner does before it starts a trainer
    deadline = time.monotonic() + 30
    while generator._bases and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not generator._bases
    assert ask().choices[0].message.content == first and generator._bases  # loaded again, same greedy answer


IDLE = r"""
import sys, time, psutil
from ftwidgets.engine import start
h = start(sys.argv[1], api_key="k", threads=1, serving_idle_release=2.0)
c = h.client(max_retries=0)
g = h._server.config.app.state.engine.generator
hi = [{"role": "user", "content": "Say hi."}]
ask = lambda: c.chat.completions.create(model="smollm2-135m-instruct", messages=hi, max_tokens=5,
                                        temperature=0).choices[0].message.content
first = ask(); serving = psutil.Process().memory_info().rss
deadline = time.monotonic() + 30
while g._bases and time.monotonic() < deadline:
    time.sleep(0.2)
time.sleep(0.5); idle = psutil.Process().memory_info().rss
released, count = not g._bases, g.idle_releases
print(serving, idle, released, count, ask() == first and bool(g._bases)); h.stop()
"""


def test_an_idle_engine_gives_its_chat_models_memory_back(tmp_path):
    """After serving (step 5's answers), an engine left idle drops its models and returns their memory to the
    system; the next request loads them again. In a process of its own, so other tests' models do not hide it."""
    import subprocess
    import sys

    p = subprocess.run(
        [sys.executable, "-c", IDLE, str(tmp_path / "engine")], capture_output=True, text=True, timeout=300
    )
    assert p.returncode == 0, p.stderr[-2000:]
    serving, idle, released, count, again = p.stdout.split()[-5:]
    print(f"serving {int(serving) / 2**20:.0f} MB, idle {int(idle) / 2**20:.0f} MB")
    assert released == "True" and count == "1" and again == "True"
    assert int(serving) - int(idle) > 150 * 2**20, (serving, idle)  # the weights (270 MB in bfloat16) went back
