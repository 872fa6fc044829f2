"""Notebooks reach the engine as a process of its own: kernels stay small, and it ends when they do."""

import json
import os
import subprocess
import sys
import textwrap
import time

from ftwidgets.engine.server import engine_pid

KERNEL = textwrap.dedent("""
    import json, os, sys
    import ftwidgets
    client = ftwidgets.client("engine")
    models = [m.id for m in client.models.list()]
    print(json.dumps({"url": str(client.base_url), "pid": os.getpid(), "models": models,
                      "torch_loaded": "torch" in sys.modules}))
""")


def _kernel(folder) -> dict:
    """What a notebook kernel does in its first cell that needs the engine, in a process of its own."""
    env = {**os.environ, "FTW_ENGINE_DIR": str(folder), "FTW_ENGINE_UNUSED_GRACE_S": "2"}
    out = subprocess.run([sys.executable, "-c", KERNEL], capture_output=True, text=True, timeout=180, env=env)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def test_kernels_share_an_engine_process_that_ends_after_them(tmp_path):
    first = _kernel(tmp_path)
    engine = engine_pid(tmp_path)
    assert engine is not None and engine != first["pid"]
    assert "smollm2-135m-instruct" in first["models"]
    assert not first["torch_loaded"]  # the kernel never loads the model: the engine process does
    second = _kernel(tmp_path)  # another notebook: the same engine, not a rival
    assert second["url"] == first["url"] and engine_pid(tmp_path) == engine
    deadline = time.monotonic() + 60  # both "kernels" are gone and no job runs: it stops by itself
    while _alive(engine) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not _alive(engine), "the engine outlived every notebook that used it"
    assert "stopping" in (tmp_path / "engine.log").read_text()
