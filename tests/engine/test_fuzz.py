"""Schema-driven fuzzing of the engine's own OpenAPI schema: no input may cause a 500."""

import shutil
import subprocess
import sys
from pathlib import Path


def test_schemathesis_finds_no_server_error(engine, tmp_path):
    root = engine.base_url.rsplit("/v1", 1)[0]
    exe = shutil.which("schemathesis") or str(Path(sys.executable).parent / "schemathesis")
    cmd = [
        exe,
        "run",
        f"{root}/openapi.json",
        "--url",
        root,
        "-H",
        f"Authorization: Bearer {engine.api_key}",
        "--checks",
        "not_a_server_error",
        "--max-examples",
        "25",
        "--seed",
        "1",
        "--request-timeout",
        "30",
        "--generation-deterministic",
    ]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    tail = (p.stdout + p.stderr)[-4000:]
    assert p.returncode == 0, tail
    assert "passed" in tail.lower()
