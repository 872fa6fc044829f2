"""Data-parallel training: a job's trainer on 2 processes under `accelerate launch` (gloo on this CPU machine)
learns what 1 process learns, writes its records once, and ends whole on a cancel or a crash."""

import csv
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest
from safetensors.torch import load_file

from ftwidgets.data.dataset import load_jsonl, write_jsonl
from ftwidgets.engine import data_parallel, start
from ftwidgets.engine.contract import JobFolder, TrainerSpec
from ftwidgets.engine.data_parallel import Processes
from ftwidgets.engine.lora import LoraSettings
from ftwidgets.engine.models import Device
from ftwidgets.metrics import format_compliance

from ..conftest import SAMPLES
from .conftest import upload, wait_for
from .test_early_stopping_job import STYLE, pirate


def test_each_process_takes_every_nth_example():
    batch = list("abcde")
    shares = [Processes(rank, 2, Device("cpu", "float32")).share(batch) for rank in (0, 1)]
    assert shares == [["a", "c", "e"], ["b", "d"]]
    assert Processes(1, 2, Device("cpu", "float32")).share(["a"]) == []  # a short last batch leaves one idle


@pytest.mark.parametrize("value", ["0", "-2", "two", "1.5"])
def test_a_bad_process_count_is_refused_by_name(monkeypatch, value):
    monkeypatch.setenv(data_parallel.PROCESSES_ENV, value)
    with pytest.raises(ValueError, match="FTW_TRAIN_PROCESSES must be a whole number"):
        data_parallel.processes_from_env()


def test_the_launch_shares_the_cores_out():
    cmd = data_parallel.launch_command(2, threads=4)
    assert cmd[:3] == [sys.executable, "-m", "accelerate.commands.launch"]
    assert cmd[cmd.index("--num_processes") + 1] == "2" and cmd[cmd.index("--num_cpu_threads_per_process") + 1] == "2"
    assert cmd[-2:] == ["-m", "ftwidgets.engine.trainer"]


def _train(tiny_llama, folder, processes: int) -> JobFolder:
    """Train the tiny model on 25 examples (the last batch of each epoch is 1 example, so a process gets none)."""
    examples = folder.parent / "train.jsonl"
    valid = folder.parent / "valid.jsonl"
    rows = load_jsonl(SAMPLES / "math_tutor.jsonl")
    for path, part in ((examples, rows[:25]), (valid, rows[25:35])):
        if not path.exists():
            write_jsonl(path, part)
    job = JobFolder(folder)
    job.path.mkdir(parents=True)
    job.write_spec(
        TrainerSpec(
            job_id="ftjob-equal",
            base_model=str(tiny_llama),
            training_path=str(examples),
            validation_path=str(valid),
            n_epochs=2,
            batch_size=4,
            learning_rate=2e-3,
            seed=3,
            threads=1,
            max_seq_len=256,
            validations_per_job=6,
            lora=LoraSettings(
                r=4, alpha=8, dropout=0.0, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"], layers=2
            ),
            processes=processes,
            length_buckets=4,
            cpu_bf16=False,
            fine_tuned_model="ft:tiny:equal",
        )
    )
    cmd = (
        data_parallel.launch_command(processes, threads=2)
        if processes > 1
        else [sys.executable, "-m", "ftwidgets.engine.trainer"]
    )
    done = subprocess.run([*cmd, str(job.path)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return job


def _curve(job: JobFolder) -> list[dict]:
    with open(job.metrics_csv) as fh:
        return list(csv.DictReader(fh))


def test_two_processes_learn_what_one_learns(tmp_path, tiny_llama):
    one = _train(tiny_llama, tmp_path / "one", 1)
    two = _train(tiny_llama, tmp_path / "two", 2)
    curve_one, curve_two = _curve(one), _curve(two)
    assert [r["step"] for r in curve_two] == [r["step"] for r in curve_one] == [str(s) for s in range(1, 15)]
    for a, b in zip(curve_one, curve_two):  # the same updates: equal up to the order of floating-point sums
        assert float(b["train_loss"]) == pytest.approx(float(a["train_loss"]), rel=1e-4, abs=1e-5)
        assert (b["valid_loss"] == a["valid_loss"] == "") or float(b["valid_loss"]) == pytest.approx(
            float(a["valid_loss"]), rel=1e-4
        )
    weights_one, weights_two = (
        load_file(one.model_dir / "adapter_model.safetensors"),
        load_file(two.model_dir / "adapter_model.safetensors"),
    )
    assert weights_one.keys() == weights_two.keys()
    for name, w in weights_one.items():
        assert (weights_two[name] - w).abs().max() < 1e-4, name
    events = [e["message"] for e in two.events()]
    assert sum(m.startswith("Training on 2 processes") for m in events) == 1  # the main process alone writes
    assert sum(m.startswith("Step ") for m in events) == 14
    assert [c.step_number for c in two.checkpoints()] == [14, 7]
    assert not list(two.path.glob("frozen_prefix*")) and two.read_outcome().status == "succeeded"


def _group(launcher_pid: int) -> list[psutil.Process]:
    try:
        return [psutil.Process(launcher_pid), *psutil.Process(launcher_pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _workers(launcher_pid: int) -> dict[int, psutil.Process]:
    """The trainer processes under a launcher, by rank."""
    found = {}
    for p in _group(launcher_pid)[1:]:
        try:
            rank = p.environ().get("RANK")
        except psutil.Error:
            continue
        if rank is not None and "ftwidgets.engine.trainer" in " ".join(p.cmdline()):
            found[int(rank)] = p
    return found


def _gone(processes: list[psutil.Process], timeout: float = 60) -> bool:
    _, alive = psutil.wait_procs(processes, timeout=timeout)
    return not alive


@pytest.fixture
def two_process_engine(tmp_path, tiny_llama):
    handle = start(tmp_path / "engine", api_key="k", threads=2, base_models=(str(tiny_llama),), train_processes=2)
    yield handle, handle.client(max_retries=0, _strict_response_validation=True)
    handle.stop()


def _running_job(handle, client, tiny_llama):
    rows = load_jsonl(SAMPLES / "math_tutor.jsonl")
    f = upload(client, rows[:120])
    job = client.fine_tuning.jobs.create(model=str(tiny_llama), training_file=f.id, hyperparameters={"n_epochs": 4})
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:  # until both processes train
        if any(e.type == "metrics" for e in client.fine_tuning.jobs.list_events(job.id, limit=5)):
            break
        time.sleep(0.5)
    folder = JobFolder(handle.data_dir / "jobs" / job.id)
    launcher = folder.read_pid()
    workers = _workers(launcher)
    assert sorted(workers) == [0, 1], [p.cmdline() for p in _group(launcher)]
    return job, launcher, workers


def test_a_crash_on_any_process_fails_the_whole_job(two_process_engine, tiny_llama):
    handle, client = two_process_engine
    job, launcher, workers = _running_job(handle, client, tiny_llama)
    group = _group(launcher)
    os.kill(workers[1].pid, signal.SIGKILL)  # the second process dies as a real crash would
    job = wait_for(client, job.id, timeout=120)
    assert job.status == "failed" and job.error.code == "trainer_crashed", job.error
    assert "of its 2 processes" in job.error.message or "of the job's 2 processes" in job.error.message, (
        job.error.message
    )
    assert _gone(group), [p for p in group if p.is_running()]


def test_cancel_ends_every_process(two_process_engine, tiny_llama):
    handle, client = two_process_engine
    job, launcher, _ = _running_job(handle, client, tiny_llama)
    group = _group(launcher)
    assert client.fine_tuning.jobs.cancel(job.id).status == "cancelled"
    assert _gone(group, timeout=30), [p for p in group if p.is_running()]


@pytest.mark.slow
def test_a_two_process_job_learns_a_style_through_the_client(tmp_path, monkeypatch):
    monkeypatch.setenv(data_parallel.PROCESSES_ENV, "2")
    handle = start(tmp_path / "engine", api_key="k", threads=2)
    try:
        client = handle.client(max_retries=0, _strict_response_validation=True)
        train, valid = upload(client, pirate(11, 120)), upload(client, pirate(12, 16), "valid.jsonl")
        job = client.fine_tuning.jobs.create(
            model="smollm2-135m-instruct",
            training_file=train.id,
            validation_file=valid.id,
            hyperparameters={"n_epochs": 2, "batch_size": 4},
            seed=2,
        )
        job = wait_for(client, job.id, timeout=1200)
        assert job.status == "succeeded", job.error
        said = [e.message for e in client.fine_tuning.jobs.list_events(job.id, limit=100)]
        assert any(m.startswith("Training on 2 processes") for m in said), said
        style = format_compliance(STYLE)
        answers = [
            client.chat.completions.create(
                model=job.fine_tuned_model, messages=p["messages"][:-1], max_tokens=40, temperature=0
            )
            .choices[0]
            .message.content
            for p in pirate(98, 8)
        ]
        assert sum(style.score(a, "", {}) for a in answers) >= 6, answers
    finally:
        handle.stop()
