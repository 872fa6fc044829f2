"""The chat models make room for a trainer: released before training, loaded again by the next chat request. They
live in a process of their own (`serving_process`), so a release gives back everything, torch's own memory too."""

import os
import signal
import time

import pytest

pytestmark = pytest.mark.slow  # loads the real model


def _asker(client):
    return lambda: (
        client.chat.completions.create(
            model="smollm2-135m-instruct",
            messages=[{"role": "user", "content": "Say hi."}],
            max_tokens=5,
            temperature=0,
        )
        .choices[0]
        .message.content
    )


def _gone(generator, within_s: float = 30) -> bool:
    deadline = time.monotonic() + within_s
    while generator.loaded and time.monotonic() < deadline:
        time.sleep(0.1)
    return not generator.loaded


def test_released_models_come_back_on_the_next_request(engine, client):
    generator, ask = engine._server.config.app.state.engine.generator, _asker(client)
    first = ask()
    assert generator.loaded
    generator.release()  # what the job runner does before it starts a trainer
    assert _gone(generator)
    assert ask() == first and generator.loaded  # loaded again, same greedy answer


def test_a_killed_models_process_is_started_again_by_the_next_request(engine, client):
    """An out-of-memory kill of the models' process costs the engine nothing: the next request starts another."""
    generator, ask = engine._server.config.app.state.engine.generator, _asker(client)
    first = ask()
    pid, started = generator.models.pid, generator.models.started
    os.kill(pid, signal.SIGKILL)
    assert _gone(generator, 10)
    assert ask() == first
    assert generator.models.started == started + 1 and generator.models.pid != pid


IDLE = r"""
import sys, time, psutil
from ftwidgets.engine import start
h = start(sys.argv[1], api_key="k", threads=1, serving_idle_release=2.0)
c = h.client(max_retries=0)
g = h._server.config.app.state.engine.generator
hi = [{"role": "user", "content": "Say hi."}]
ask = lambda: c.chat.completions.create(model="smollm2-135m-instruct", messages=hi, max_tokens=5,
                                        temperature=0).choices[0].message.content
me = psutil.Process()
tree = lambda: sum(p.memory_info().rss for p in [me, *me.children(recursive=True)])
before = tree(); first = ask(); serving = tree()
deadline = time.monotonic() + 30
while g.loaded and time.monotonic() < deadline:
    time.sleep(0.2)
time.sleep(0.5); idle = tree()
released, count = not g.loaded and not me.children(), g.idle_releases
print(before, serving, idle, released, count, "torch" in sys.modules, ask() == first and g.loaded); h.stop()
"""


def test_an_idle_engine_gives_all_its_chat_models_memory_back(tmp_path):
    """After serving (step 5's answers), an engine left idle ends its models' process: the engine never imported
    torch, so it is back where it started; the next request loads them again. In a process of its own, so other
    tests' models do not hide it."""
    import subprocess
    import sys

    p = subprocess.run(
        [sys.executable, "-c", IDLE, str(tmp_path / "engine")], capture_output=True, text=True, timeout=300
    )
    assert p.returncode == 0, p.stderr[-2000:]
    before, serving, idle, released, count, torch_in_engine, again = p.stdout.split()[-7:]
    print(
        f"before {int(before) / 2**20:.0f} MB, serving {int(serving) / 2**20:.0f} MB, idle {int(idle) / 2**20:.0f} MB"
    )
    assert released == "True" and count == "1" and again == "True"
    assert torch_in_engine == "False"  # torch, transformers and the weights live in the models' process only
    assert int(serving) - int(idle) > 400 * 2**20, (serving, idle)  # the models' process and everything it held
    assert int(idle) - int(before) < 40 * 2**20, (before, idle)
