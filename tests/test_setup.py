"""The set-up scripts tell the truth: the Python is checked first, a .venv of another Python is rebuilt, torch is
the CPU build where there is no GPU (from PyTorch's CPU index when it answers, else said plainly), the browser's
set-up is a stage of its own, and the scripts run on macOS's bash 3.2. Each runs `scripts/setup.sh` as a user
would, with FTW_SETUP_DRY_RUN=1 so it says what it would do and installs nothing."""

import http.server
import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LOCKED_TORCH = next(
    line for line in (ROOT / "requirements.lock").read_text().splitlines() if line.startswith("torch==")
)


@pytest.fixture
def checkout(tmp_path):
    """The files setup.sh reads, in a folder of their own, with a bin/ folder put first on PATH for fakes."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "setup.sh", tmp_path / "scripts")
    shutil.copy(ROOT / "requirements.lock", tmp_path)
    (tmp_path / "bin").mkdir()
    fake(tmp_path / "bin" / "nvidia-smi", "exit 9")  # no GPU, whatever this machine has
    return tmp_path


def fake(path: Path, body: str) -> None:
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


def setup(folder: Path, **env) -> subprocess.CompletedProcess:
    environ = {**os.environ, "FTW_SETUP_DRY_RUN": "1", "PATH": f"{folder / 'bin'}:{os.environ['PATH']}", **env}
    environ.pop("TORCH_SPEC", None)
    return subprocess.run(
        ["bash", str(folder / "scripts" / "setup.sh")], capture_output=True, text=True, env=environ, timeout=60
    )


def test_an_old_python_is_refused_before_anything_is_installed(checkout):
    fake(checkout / "bin" / "old-python", 'case "$1" in -V) echo "Python 3.9.18";; *) exit 1;; esac')
    p = setup(checkout, PYTHON="old-python")
    assert p.returncode == 1 and "needs Python 3.11 or newer" in p.stderr and "Python 3.9.18" in p.stderr
    assert not (checkout / ".venv").exists() and "torch" not in p.stdout


def test_a_venv_of_another_python_is_rebuilt(checkout):
    (checkout / ".venv" / "bin").mkdir(parents=True)
    fake(checkout / ".venv" / "bin" / "python", "echo 3.9")
    p = setup(checkout, FTW_TORCH_CPU_INDEX="http://127.0.0.1:9")
    assert p.returncode == 0, p.stderr
    assert "rebuild .venv (it has Python 3.9, not 3." in p.stdout


class _Index(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - the standard library's name
        self.send_response(200 if self.path == "/whl/cpu/torch/" else 404)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_without_a_gpu_torch_comes_from_the_cpu_index_when_it_answers(checkout):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Index)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    index = f"http://127.0.0.1:{server.server_port}/whl/cpu"
    try:
        p = setup(checkout, FTW_TORCH_CPU_INDEX=index)
    finally:
        server.shutdown()
    assert p.returncode == 0, p.stderr
    command = next(line for line in p.stdout.splitlines() if line.startswith("setup: torch: python"))
    print(command)
    assert f"{LOCKED_TORCH}+cpu --extra-index-url {index}" in command and "-c requirements.lock" in command
    assert "the CPU build, from PyTorch's CPU wheel index" in p.stdout


def test_without_a_gpu_and_no_cpu_index_it_says_what_pip_will_do(checkout):
    p = setup(checkout, FTW_TORCH_CPU_INDEX="http://127.0.0.1:9/whl/cpu")
    assert p.returncode == 0, p.stderr
    assert "did not answer" in p.stdout and "the CUDA one (gigabytes)" in p.stdout
    assert p.stdout.rstrip().endswith(f"python -m pip install -q -c requirements.lock {LOCKED_TORCH}")


def test_with_a_gpu_torch_is_the_cuda_build(checkout):
    fake(checkout / "bin" / "nvidia-smi", 'echo "GPU 0: NVIDIA H200"')
    p = setup(checkout, FTW_TORCH_CPU_INDEX="http://127.0.0.1:9/whl/cpu")
    assert p.returncode == 0 and "an NVIDIA GPU is present: the CUDA build" in p.stdout
    assert "+cpu" not in p.stdout and "extra-index-url" not in p.stdout


def test_the_browser_set_up_is_a_stage_so_the_other_stages_run_without_root():
    script = (ROOT / "scripts" / "test.sh").read_text()
    calls = [line for line in script.splitlines() if "browser_setup.sh" in line and not line.lstrip().startswith("#")]
    assert calls and all(line.startswith('stage "browser set-up') for line in calls), calls
    assert script.index('stage "package tests"') < script.index("browser_setup.sh")


def test_empty_arrays_are_expanded_the_way_bash_3_2_allows():
    """Under `set -u`, bash before 4.4 calls an empty array unbound: every expansion of an array that can be empty
    uses the ${a[@]+"${a[@]}"} form. (Arrays that always hold something are listed here with why.)"""
    never_empty = {"torch_args", "torch_cmd", "outcomes"}  # set on every path / a stage always ran before
    import re

    for script in sorted((ROOT / "scripts").glob("*.sh")) + [ROOT / ".ci" / "run", ROOT / "binder" / "start"]:
        for m in re.finditer(r'(\$\{(\w+)\[@\]\+)?"\$\{(\w+)\[@\]\}"', script.read_text()):
            assert m.group(1) or m.group(3) in never_empty, f"{script.name}: {m.group(0)} fails on bash 3.2 when empty"


def test_workbook_sh_runs_with_no_extra_arguments_under_set_u(tmp_path):
    """The expansion workbook.sh makes, run by this machine's bash with the empty array it has in QUICK mode."""
    line = next(
        line
        for line in (ROOT / "scripts" / "workbook.sh").read_text().splitlines()
        if "run_workbook.py" in line and not line.startswith("#")
    )
    snippet = "set -euo pipefail\nfull=()\nout=o\npython() { printf '<%s>' \"$@\"; }\n" + line
    p = subprocess.run(["bash", "-c", snippet], capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout == "<scripts/run_workbook.py><--out><o><--max-memory-gb><2>", p


def test_the_binder_image_leaves_out_git_tests_and_benchmarks():
    ignored = (ROOT / "binder" / ".dockerignore").read_text().split()
    assert {".git/", "tests/", "benchmarks/"} <= set(ignored)
    assert os.readlink(ROOT / ".dockerignore") == "binder/.dockerignore"


def test_a_hung_test_fails_alone_after_the_per_test_timeout(tmp_path):
    """pytest-timeout is on for the package tests (pyproject's `timeout`): a test that hangs fails by itself, and
    the next test still runs."""
    import sys

    (tmp_path / "test_hang.py").write_text(
        "import time\n\ndef test_hangs():\n    time.sleep(60)\n\ndef test_after():\n    pass\n"
    )
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-o",
            "timeout=2",
            "-c",
            str(ROOT / "pyproject.toml"),
            "--rootdir",
            str(tmp_path),
            str(tmp_path / "test_hang.py"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert "Timeout" in p.stdout and "1 failed, 1 passed" in p.stdout, p.stdout[-2000:]


def test_the_package_tests_have_a_per_test_timeout():
    import tomllib

    options = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert 300 <= int(options["timeout"]) <= 1800
