"""A restarted kernel re-attaches to its job instead of launching a second one."""

import pytest

from ftwidgets.data.dataset import load_jsonl, write_jsonl
from ftwidgets.hyperparams import PlanBlocked, supervised_method
from ftwidgets.training import JobStillActive, launch_or_attach
from ftwidgets.widgets import HyperparameterPanel, JobMonitor

from ..conftest import SAMPLES


def test_same_files_and_settings_reattach_until_the_job_dies(client, tmp_path):
    train = tmp_path / "train.jsonl"
    write_jsonl(train, load_jsonl(SAMPLES / "math_tutor.jsonl")[:120])
    settings = {
        "model": "smollm2-135m-instruct",
        "seed": 1,
        "method": {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 1}}},
    }
    state = tmp_path / "job.json"
    first = launch_or_attach(client, train, None, settings, state)
    assert launch_or_attach(client, train, None, settings, state) == first  # the "restarted kernel"
    job = client.fine_tuning.jobs.retrieve(first)
    assert job.metadata["workbook"] == "04_train" and job.metadata["fingerprint"]
    other = launch_or_attach(client, train, None, {**settings, "seed": 2}, tmp_path / "other.json")
    assert other != first  # different settings: a different job
    for j in (first, other):
        client.fine_tuning.jobs.cancel(j)
    third = launch_or_attach(client, train, None, settings, state)
    assert third != first  # a cancelled job is not re-attached
    client.fine_tuning.jobs.cancel(third)


def _counts(client):
    return len(client.fine_tuning.jobs.list(limit=100).data), len(client.files.list(limit=100).data)


def test_a_blocked_plan_launches_nothing(client, tmp_path):
    """The notebook's launch path with the panel's BLOCKED settings: the guard's words, no job, no upload."""
    train = tmp_path / "train.jsonl"
    write_jsonl(train, load_jsonl(SAMPLES / "math_tutor.jsonl")[:120])
    before = _counts(client)
    fifty = {"model": "smollm2-135m-instruct", "method": supervised_method({"n_epochs": 50})}
    with pytest.raises(PlanBlocked, match="50 epochs will memorise the data"):
        launch_or_attach(client, train, None, fifty, tmp_path / "job.json")
    small = tmp_path / "small.jsonl"
    write_jsonl(small, load_jsonl(SAMPLES / "math_tutor.jsonl")[:40])
    with pytest.raises(PlanBlocked, match="40 examples: under 100"):
        launch_or_attach(client, small, None, {"model": "smollm2-135m-instruct"}, tmp_path / "job.json")
    panel = HyperparameterPanel(120)
    panel.on_launch(
        lambda settings: JobMonitor(client, launch_or_attach(client, train, None, settings, tmp_path / "job.json"))
    )
    panel.auto_epochs.value = False
    panel.epochs.value = 50
    with pytest.raises(PlanBlocked, match="50 epochs"):
        panel.launch_now()  # the launch cell
    panel.launch.click()  # the button, even if something enables it
    assert "BLOCKED" in panel.launch_message.value and "50 epochs" in panel.launch_message.value
    assert panel.launched.children == ()
    assert _counts(client) == before and not (tmp_path / "job.json").exists()


def test_launch_button_and_cell_make_one_job(client, tmp_path):
    """Clicking Launch starts the job and shows its monitor; the launch cell then attaches to that job."""
    train = tmp_path / "train.jsonl"
    write_jsonl(train, load_jsonl(SAMPLES / "math_tutor.jsonl")[:120])
    state = tmp_path / "job.json"
    panel = HyperparameterPanel(120)
    panel.on_launch(lambda settings: JobMonitor(client, launch_or_attach(client, train, None, settings, state)))
    panel.auto_epochs.value = False
    panel.epochs.value = 2
    jobs_before = _counts(client)[0]
    panel.launch.click()
    (monitor,) = panel.launched.children
    assert isinstance(monitor, JobMonitor) and "Launched" in panel.launch_message.value
    assert panel.launch_now().job_id == monitor.job_id  # the cell after the click: the same job
    assert _counts(client)[0] == jobs_before + 1
    panel.epochs.value = 3  # other settings while the first job still runs: refused, not a second job
    with pytest.raises(JobStillActive, match=monitor.job_id):
        panel.launch_now()
    assert _counts(client)[0] == jobs_before + 1
    client.fine_tuning.jobs.cancel(monitor.job_id)
    assert monitor.wait(every=0.3, timeout=60) == "cancelled"
    assert "No sign of overfitting" not in monitor.verdict.value and "cancelled" in monitor.verdict.value
