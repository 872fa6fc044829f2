"""``/v1/fine_tuning/jobs``: create (checked here, validated and run by the `JobRunner`), list,
retrieve, cancel, events and checkpoints."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Depends, Request
from openai.types.fine_tuning import FineTuningJob, FineTuningJobEvent
from openai.types.fine_tuning.jobs import FineTuningJobCheckpoint

from ...hyperparams import (
    BLOCKED,
    DPO,
    SUPERVISED,
    epochs_guard,
    hyperparameter_names,
    method_object,
    out_of_bounds,
)
from ...job_options import JobOptionError, job_option, job_options
from ...runtime.job_states import ACTIVE
from ..contract import new_id, now
from ..protocol import APIError, JobCreate, cursor_page, page_limit
from ..recipe import ORG
from ..store import NotFound, wire
from . import GUARDED, Engine, engine

router = APIRouter(prefix="/v1/fine_tuning/jobs", dependencies=GUARDED)


def check_request(body: JobCreate, e: Engine) -> dict:
    """Everything that can be refused before the data is read, as a 400; returns the requested hyperparameters."""
    if body.method_type not in (SUPERVISED, DPO):
        raise APIError(
            400,
            f"Method {body.method_type!r} is not supported by the embedded engine; use 'supervised' or 'dpo'",
            code="unsupported_method",
            param="method.type",
        )
    fine_tuned = body.method_type == DPO and body.model in e.store.models()  # DPO may start from a fine-tuned model
    if body.model not in e.settings.base_models and not fine_tuned:
        also = " (or, for DPO, a model fine-tuned here)" if body.method_type == DPO else ""
        raise APIError(
            400,
            f"Model {body.model!r} is not available for fine-tuning here; use one of "
            f"{list(e.settings.base_models)}{also}",
            code="model_not_available",
            param="model",
        )
    for param in ("training_file", "validation_file"):
        if (fid := getattr(body, param)) is not None:
            try:
                purpose = e.store.get_file(fid).purpose
            except NotFound:
                raise APIError(400, f"Invalid file ID {fid!r} for {param}", code="invalid_file", param=param) from None
            if purpose != "fine-tune":
                raise APIError(
                    400,
                    f"{param} {fid} was uploaded with purpose {purpose!r}, not 'fine-tune'",
                    code="invalid_file_purpose",
                    param=param,
                )
    if body.metadata is not None and (
        len(body.metadata) > 16 or any(len(k) > 64 or len(v) > 512 for k, v in body.metadata.items())
    ):
        raise APIError(
            400,
            "metadata holds at most 16 keys of 64 characters with values of 512",
            code="invalid_metadata",
            param="metadata",
        )
    try:
        job_options(body.metadata)  # every engine-only option checked here, from its one declaration
    except JobOptionError as exc:
        raise APIError(400, str(exc), code="invalid_metadata", param=f"metadata.{exc.key}") from None
    requested = body.requested_hyperparameters()
    if bad := out_of_bounds(requested):
        raise APIError(400, bad[1], code="invalid_hyperparameter", param=f"hyperparameters.{bad[0]}")
    if isinstance(requested.get("n_epochs"), int):  # the rule a notebook cell could otherwise go around
        guard = epochs_guard(requested["n_epochs"], allow_many_epochs=job_option(body.metadata, "allow_many_epochs"))
        if guard is not None and guard.level == BLOCKED:
            raise APIError(400, guard.message, code="invalid_hyperparameter", param="hyperparameters.n_epochs")
    return requested


def new_job(body: JobCreate, requested: dict) -> FineTuningJob:
    """The job as OpenAI shapes it when created: "auto" where nothing was asked, files still to validate."""
    return FineTuningJob(
        id=new_id("ftjob"),
        object="fine_tuning.job",
        created_at=now(),
        error=None,
        fine_tuned_model=None,
        finished_at=None,
        hyperparameters={k: requested.get(k, "auto") for k in hyperparameter_names(SUPERVISED)},
        model=body.model,
        organization_id=f"org-{ORG}",
        result_files=[],
        seed=body.seed if body.seed is not None else secrets.randbelow(2**31),
        status="validating_files",
        trained_tokens=None,
        training_file=body.training_file,
        validation_file=body.validation_file,
        integrations=[],
        user_provided_suffix=body.suffix,
        metadata=body.metadata,
        estimated_finish=None,
        method=method_object(body.method_type, requested),
    )


@router.post("")
def create_job(body: JobCreate, e: Engine = Depends(engine)) -> dict:
    job = new_job(body, check_request(body, e))
    e.store.save_job(job)
    e.store.event(job.id, f"Validating training file: {body.training_file}")
    e.store.event(job.id, f"Created fine-tuning job: {job.id}")
    if body.integrations:
        kinds = ", ".join(sorted({str(i.get("type", "?")) for i in body.integrations}))
        e.store.event(
            job.id,
            f"The engine ignores integrations ({kinds}): it runs offline and sends nothing out. The "
            "job's metrics are in its events and its result file.",
            level="warn",
        )
    e.runner.wake()
    return wire(job)


@router.get("")
def list_jobs(
    request: Request, after: str | None = None, limit: int | None = None, e: Engine = Depends(engine)
) -> dict:
    wanted = {
        k[len("metadata[") : -1]: v
        for k, v in request.query_params.items()
        if k.startswith("metadata[") and k.endswith("]")
    }
    jobs = [
        wire(with_estimate(j, e))
        for j in e.store.list_jobs()
        if all((j.metadata or {}).get(k) == v for k, v in wanted.items())
    ]
    return cursor_page(jobs, after, page_limit(limit))


def with_estimate(job: FineTuningJob, e: Engine) -> FineTuningJob:
    """A running job with its estimated_finish, from the measured time of its steps so far."""
    if job.status == "running":
        finish = e.store.job_folder(job.id).estimated_finish()
        if finish is not None:
            job = job.model_copy(update={"estimated_finish": finish})
    return job


@router.get("/{job_id}")
def get_job(job_id: str, e: Engine = Depends(engine)) -> dict:
    return wire(with_estimate(e.store.get_job(job_id), e))


@router.post("/{job_id}/cancel")
def cancel_job(job_id: str, e: Engine = Depends(engine)) -> dict:
    job = e.store.get_job(job_id)
    if job.status not in ACTIVE:
        raise APIError(400, f"Job {job_id} is already {job.status}", code="invalid_job_state", param="job_id")
    return wire(e.runner.cancel(job_id))


@router.get("/{job_id}/events")
def job_events(job_id: str, after: str | None = None, limit: int | None = None, e: Engine = Depends(engine)) -> dict:
    page = cursor_page(e.store.job_folder(job_id).events(), after, page_limit(limit))
    # only the page's events are checked against OpenAI's shape: a monitor polling a long job reads one page
    page["data"] = [wire(FineTuningJobEvent.model_validate(ev)) for ev in page["data"]]
    return page


@router.get("/{job_id}/checkpoints")
def job_checkpoints(
    job_id: str, after: str | None = None, limit: int | None = None, e: Engine = Depends(engine)
) -> dict:
    e.store.get_job(job_id)
    items = [wire(FineTuningJobCheckpoint.model_validate(c.public())) for c in e.store.job_folder(job_id).checkpoints()]
    return cursor_page(items, after, page_limit(limit, 10))
