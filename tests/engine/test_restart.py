"""Kill the server mid-job (SIGKILL): after a restart the files are there and the job is failed, not stuck."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from openai import OpenAI

from ftwidgets.data.dataset import load_jsonl
from ftwidgets.engine.server import free_port

from ..conftest import SAMPLES
from .conftest import upload, wait_for

pytestmark = pytest.mark.slow


def _serve(data_dir: Path, port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ftwidgets.cli",
            "engine",
            "serve",
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
            "--api-key",
            "restart-key",
            "--threads",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise AssertionError("engine did not start")


def _a_running_job(data_dir: Path):
    """An engine on `data_dir` training a job: its process, its client, the file, the job and the trainer's pid."""
    port = free_port()
    proc = _serve(data_dir, port)
    client = OpenAI(
        base_url=f"http://127.0.0.1:{port}/v1", api_key="restart-key", max_retries=0, _strict_response_validation=True
    )
    try:
        f = upload(client, load_jsonl(SAMPLES / "math_tutor.jsonl")[:150])
        job = client.fine_tuning.jobs.create(
            model="smollm2-135m-instruct", training_file=f.id, hyperparameters={"n_epochs": 2}
        )
        wait_for(client, job.id, statuses=("running",), timeout=120)
        return proc, client, f, job, int((data_dir / "jobs" / job.id / "trainer.pid").read_text())
    except BaseException:
        proc.kill()
        raise


def test_running_job_is_failed_after_a_crash_and_files_survive(tmp_path):
    proc, client, f, job, trainer_pid = _a_running_job(tmp_path)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    port = client.base_url.port
    proc = _serve(tmp_path, port)
    try:
        job = client.fine_tuning.jobs.retrieve(job.id)
        assert job.status == "failed" and job.error.code == "engine_restarted"
        assert "did not finish" in job.error.message
        assert client.files.retrieve(f.id).bytes > 0
        time.sleep(0.5)
        assert not _alive(trainer_pid), "the orphaned trainer was not stopped"
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    return state != "Z"


def test_a_job_running_when_the_engine_is_stopped_is_failed_with_that_reason(tmp_path):
    """A graceful stop (``ftw engine stop``, the notebooks' engine ending after its last notebook): the job record
    says failed, engine_stopped, as soon as the engine is down, not "running" until some restart."""
    proc, _, _, job, trainer_pid = _a_running_job(tmp_path)
    proc.terminate()
    proc.wait(timeout=30)
    from ftwidgets.engine.store import Store

    stopped = Store(tmp_path).get_job(job.id)  # read from the folder, the engine down
    assert stopped.status == "failed" and stopped.error.code == "engine_stopped", stopped
    assert not _alive(trainer_pid)
