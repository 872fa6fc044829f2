"""Each hyperparameter is declared once (`hyperparams.HYPERPARAMETERS`): the request bodies, the bounds, "auto", the
job's read-back and the trainer's spec are made from that declaration, so none of them can drift from it; each
engine-only job option likewise (`job_options.JOB_OPTIONS`): its 400 and its trainer field."""

import json

import openai
import pytest
from openai.types.fine_tuning import FineTuningJob
from pydantic import ValidationError

from ftwidgets import job_options as job_options_module
from ftwidgets.engine import start
from ftwidgets.engine.contract import TrainerSpec
from ftwidgets.engine.protocol import DpoHyperparameters, Hyperparameters, JobCreate
from ftwidgets.engine.recipe import DPO_BASE_LEARNING_RATE, trainer_spec
from ftwidgets.engine.routes.fine_tuning import new_job
from ftwidgets.engine.settings import EngineSettings
from ftwidgets.hyperparams import (
    DPO,
    HYPERPARAMETERS,
    SUPERVISED,
    hyperparameter_names,
    method_object,
    out_of_bounds,
    resolve_hyperparameters,
)
from ftwidgets.job_options import JOB_OPTIONS, JobOption, whole_number


def test_the_request_bodies_hold_exactly_the_declared_fields_and_refuse_others():
    assert (
        list(Hyperparameters.model_fields)
        == hyperparameter_names(SUPERVISED)
        == [
            "n_epochs",
            "batch_size",
            "learning_rate_multiplier",
        ]
    )
    assert list(DpoHyperparameters.model_fields) == hyperparameter_names(DPO)
    with pytest.raises(ValidationError):
        Hyperparameters(beta=0.1)  # DPO's, not supervised tuning's
    with pytest.raises(ValidationError):
        DpoHyperparameters(n_epoch=3)  # misspelt


@pytest.mark.parametrize("name", list(HYPERPARAMETERS))
def test_every_declared_hyperparameter_has_its_bounds_checked_and_its_auto_resolved(name):
    declared = HYPERPARAMETERS[name]
    lo, hi = declared.bounds
    assert out_of_bounds({name: hi * 2}) == (name, f"{name} must be 'auto' or between {lo} and {hi}")
    assert out_of_bounds({name: lo}) is None and out_of_bounds({name: "auto"}) is None
    method = declared.methods[-1]
    assert resolve_hyperparameters({name: "auto"}, 500, method)[name] == declared.auto(500)
    assert resolve_hyperparameters({name: lo}, 500, method)[name] == declared.kind(lo)


def spec_of(queued: FineTuningJob, tmp_path, *, validation: bool):
    """The trainer's spec for a queued job on the default base, with a validation file or without."""
    return trainer_spec(
        queued,
        EngineSettings(max_batch_tokens=None),
        base="smollm2-135m-instruct",
        start_adapter=None,
        training_path=tmp_path / "t.jsonl",
        validation_path=tmp_path / "v.jsonl" if validation else None,
    )


def test_a_job_reads_back_its_declared_hyperparameters_and_its_spec_takes_them_by_name(tmp_path):
    body = JobCreate(model="smollm2-135m-instruct", training_file="file-x", method={"type": "dpo", "dpo": {}})
    job = new_job(body, {"beta": 0.3})
    assert job.hyperparameters.model_dump() == {k: "auto" for k in hyperparameter_names(SUPERVISED)}
    resolved = resolve_hyperparameters({"beta": 0.3}, 200, DPO)
    queued = FineTuningJob.model_validate(
        {
            **job.model_dump(),
            "hyperparameters": {k: resolved[k] for k in hyperparameter_names(SUPERVISED)},
            "method": method_object(DPO, resolved),
        }
    )
    spec = spec_of(queued, tmp_path, validation=False)
    assert (spec.beta, spec.n_epochs, spec.batch_size) == (0.3, resolved["n_epochs"], resolved["batch_size"])
    assert spec.learning_rate == DPO_BASE_LEARNING_RATE * resolved["learning_rate_multiplier"]


def test_every_engine_only_job_option_reaches_the_trainer_by_its_declared_field(tmp_path):
    assert {o.spec_field for o in JOB_OPTIONS if o.spec_field} <= set(TrainerSpec.model_fields)
    body = JobCreate(
        model="smollm2-135m-instruct",
        training_file="file-x",
        metadata={"early_stopping": "true", "early_stopping_patience": "7"},
    )
    job = new_job(body, {})
    resolved = resolve_hyperparameters({}, 200, SUPERVISED)
    queued = FineTuningJob.model_validate({**job.model_dump(), "method": method_object(SUPERVISED, resolved)})
    assert spec_of(queued, tmp_path, validation=True).early_stopping_patience == 7


def test_a_new_job_option_is_refused_with_a_400_naming_it_from_its_declaration_alone(tmp_path, monkeypatch):
    """Declaring an option is all it takes for a bad value to be refused before any data is read."""
    probe = JobOption("warmup_evaluations", whole_number(0, 10, "evaluations"), 0, "a test's own option")
    monkeypatch.setattr(job_options_module, "JOB_OPTIONS", (*JOB_OPTIONS, probe))
    handle = start(tmp_path / "engine", api_key="k", threads=1)
    try:
        client = handle.client(max_retries=0, _strict_response_validation=True)
        line = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}
        f = client.files.create(file=("t.jsonl", (json.dumps(line) + "\n").encode()), purpose="fine-tune")
        with pytest.raises(openai.BadRequestError) as refused:
            client.fine_tuning.jobs.create(
                model="smollm2-135m-instruct", training_file=f.id, metadata={"warmup_evaluations": "11"}
            )
        assert refused.value.body["param"] == "metadata.warmup_evaluations"
        assert "warmup_evaluations must be a whole number of evaluations from 0 to 10" in refused.value.body["message"]
    finally:
        handle.stop()
