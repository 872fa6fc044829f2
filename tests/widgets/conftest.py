from ..engine.conftest import client, engine  # noqa: F401  (a real engine for the monitor's refresh test)


def in_a_fresh_process(script: str, *args: str) -> dict:
    """Run `script` in a Python of its own (a kernel's imports, nothing this test process loaded) and return the JSON
    it prints on its last line."""
    import json
    import subprocess
    import sys

    p = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout.splitlines()[-1])
