"""The typed contract between the job runner and the trainer, through the job's folder."""

import pytest
from pydantic import ValidationError

from ftwidgets.engine.contract import CheckpointRecord, JobError, JobFolder, TrainerOutcome, TrainerSpec
from ftwidgets.engine.lora import LORA


def spec(**changes) -> TrainerSpec:
    fields = dict(
        job_id="ftjob-abcdefgh",
        base_model="smollm2-135m-instruct",
        training_path="/t.jsonl",
        n_epochs=3,
        batch_size=4,
        learning_rate=2e-3,
        seed=1,
        max_seq_len=1024,
        lora=LORA,
        fine_tuned_model="ft:x",
    )
    return TrainerSpec(**{**fields, **changes})


def test_the_spec_round_trips_and_refuses_unknown_or_missing_fields(tmp_path):
    folder = JobFolder(tmp_path)
    folder.write_spec(spec(validation_path="/v.jsonl", max_batch_tokens=128))
    assert folder.read_spec() == spec(validation_path="/v.jsonl", max_batch_tokens=128)
    with pytest.raises(ValidationError):
        spec(n_epoch=3)  # a misspelt field is an error, not a silent default
    with pytest.raises(ValidationError):
        TrainerSpec(job_id="ftjob-x")


def test_no_outcome_means_a_crash_and_a_failure_carries_its_error(tmp_path):
    folder = JobFolder(tmp_path)
    assert folder.read_outcome() is None
    folder.outcome_file.write_text('{"status": "succ')  # cut short
    assert folder.read_outcome() is None
    folder.write_outcome(TrainerOutcome(status="failed", error=JobError(code="training_error", message="boom")))
    assert folder.read_outcome().error.code == "training_error"


def test_events_newest_first_and_checkpoints_hide_their_adapter(tmp_path):
    folder = JobFolder(tmp_path)
    folder.event("first")
    folder.event("second", type="metrics", data={"step": 1})
    with open(folder.events_file, "ab") as fh:
        fh.write(b'{"id": "ftevent-cut')  # a line being written right now
    assert [e["message"] for e in folder.events()] == ["second", "first"]
    ckpt = CheckpointRecord(
        id="ftckpt-abcdefgh",
        created_at=1,
        fine_tuned_model_checkpoint="ft:x:ckpt-step-4",
        fine_tuning_job_id="ftjob-abcdefgh",
        step_number=4,
        metrics={"step": 4},
        adapter="/a",
    )
    folder.write_checkpoints([ckpt])
    assert folder.checkpoints() == [ckpt] and "adapter" not in ckpt.public()
