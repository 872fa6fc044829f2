"""A restarted kernel re-attaches to its job instead of launching a second one."""

from ftwidgets.dataset import load_jsonl, write_jsonl
from ftwidgets.training import launch_or_attach

from ..conftest import SAMPLES


def test_same_files_and_settings_reattach_until_the_job_dies(client, tmp_path):
    train = tmp_path / "train.jsonl"
    write_jsonl(train, load_jsonl(SAMPLES / "math_tutor.jsonl")[:120])
    settings = {"model": "smollm2-135m-instruct", "seed": 1, "method": {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 1}}}}
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
