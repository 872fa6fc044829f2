"""Launching fine-tuning jobs from a notebook without ever launching one twice, and small grid searches.

Works through any `openai.OpenAI` client. A job's id is saved beside the step's work,
and every job carries metadata naming the data and settings, so a restarted kernel
re-attaches to its running (or finished) job instead of starting a second one. Every
launch passes `hyperparams.ensure_launchable` first: a plan the rules block creates nothing.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .base_models import DEFAULT_BASE_MODEL, refuse_after_openai_end
from .curves import loss_curve, overfitting_from_events, pick_checkpoint
from .data.dataset import load_jsonl, write_jsonl
from .early_stopping import stop_from_events
from .hyperparams import ensure_launchable, supervised_method
from .job_options import ALLOW_SMALL_METADATA
from .runtime.job_states import ACTIVE, FINAL
from .runtime.safe_files import iter_raw_lines

ACTIVE_OR_DONE = (*ACTIVE, "succeeded")


class JobStillActive(RuntimeError):
    """This step's job is still running with other settings: launching now would run two jobs."""


def _fingerprint(*paths: Path | None, settings: dict[str, Any]) -> str:
    h = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    for p in paths:
        if p is not None:
            h.update(Path(p).read_bytes())
    return h.hexdigest()[:16]


def _upload(client, path: Path) -> str:
    with open(path, "rb") as fh:
        return client.files.create(file=fh, purpose="fine-tune").id


def _retrieve_if_known(client, job_id: str):
    """The job, or None when this backend does not know it (another backend's job, a wiped engine folder)."""
    try:
        return client.fine_tuning.jobs.retrieve(job_id)
    except Exception as exc:  # the client's NotFoundError, without importing a backend here
        if getattr(exc, "status_code", None) == 404:
            return None
        raise


class LaunchRefused(RuntimeError):
    """The backend said no to a job (a 4xx): the message says why in plain words and what to do instead."""


WHAT_ELSE = (
    "the embedded engine (FTW_BACKEND=engine, the default: offline, on this machine, no key) or Azure OpenAI "
    "(FTW_BACKEND=azure)"
)


def refusal_message(exc) -> str:
    """A backend's 4xx at job creation, read plainly: OpenAI's "this organisation cannot fine-tune" names the other
    backends; any other refusal keeps the backend's own words, with its code and the parameter it names."""
    body = exc.body if isinstance(getattr(exc, "body", None), dict) else {}
    code, param = body.get("code") or getattr(exc, "code", None), body.get("param") or getattr(exc, "param", None)
    said = body.get("message") or getattr(exc, "message", "") or str(exc)
    if code == "training_not_available" or (exc.status_code == 403 and "fine-tun" in said.lower()):
        return (
            f"The backend does not offer fine-tuning to your organisation (403 training_not_available). "
            f"Fine-tune on {WHAT_ELSE} instead: these same cells run there."
        )
    if exc.status_code in (401, 403):
        return (
            f"The backend refused the key ({exc.status_code} {code or 'unauthorised'}): check the key you gave, "
            f"or use {WHAT_ELSE}."
        )
    where = f" (parameter {param})" if param else ""
    return f"The backend refused the job ({exc.status_code} {code or 'error'}){where}: {said}"


def launch_or_attach(
    client, train: Path, validation: Path | None, settings: dict[str, Any], state_file: Path, step: str = "04_train"
) -> str:
    """The id of the job for these files and settings: the saved one if it is alive or done, else a new one.

    Raises `hyperparams.PlanBlocked` for a plan the rules refuse, `base_models.OpenAIEnded` for a new job on OpenAI
    after its fine-tuning ended, and `JobStillActive` while the saved job runs with other settings; none of them
    creates or uploads anything. A backend's refusal (a 4xx at creation) is a
    `LaunchRefused` whose message says what to do (`refusal_message`).
    """
    refuse_after_openai_end(client, settings.get("model"), jobs=True)  # before any upload
    ensure_launchable(sum(1 for _ in iter_raw_lines(train)), settings)
    fp = _fingerprint(train, validation, settings=settings)
    if state_file.exists():
        saved = json.loads(state_file.read_text())
        job = _retrieve_if_known(client, saved["job_id"])
        if job is not None and saved.get("fingerprint") == fp and job.status in ACTIVE_OR_DONE:
            return job.id
        if job is not None and job.status in ACTIVE:
            raise JobStillActive(
                f"Not launched: job {job.id} of this step is still {job.status} with other settings. "
                "Cancel it (the monitor's Cancel button) or wait for it to end, then launch again."
            )
    metadata = {**(settings.get("metadata") or {}), "workbook": step, "fingerprint": fp}
    import openai

    try:
        job = client.fine_tuning.jobs.create(
            training_file=_upload(client, train),
            validation_file=_upload(client, validation) if validation else None,
            **{**settings, "metadata": metadata},
        )
    except openai.APIStatusError as exc:
        if 400 <= exc.status_code < 500:
            raise LaunchRefused(refusal_message(exc)) from None
        raise
    state_file.parent.mkdir(parents=True, exist_ok=True)
    state_file.write_text(
        json.dumps({"job_id": job.id, "fingerprint": fp, "model": settings.get("model")}, indent=2) + "\n"
    )
    return job.id


def wait(client, job_id: str, *, every: float = 2.0, timeout: float = 3600):
    deadline = time.monotonic() + timeout
    job = client.fine_tuning.jobs.retrieve(job_id)
    while job.status not in FINAL and time.monotonic() < deadline:
        time.sleep(every)
        job = client.fine_tuning.jobs.retrieve(job_id)
    return job


@dataclass
class GridResult:
    settings: dict[str, Any]
    job_id: str
    status: str
    fine_tuned_model: str | None
    steps: list[int] = field(default_factory=list)
    valid_loss: list[float] = field(default_factory=list)

    @property
    def final_valid_loss(self) -> float:
        return self.valid_loss[-1] if self.valid_loss else float("inf")


def grid_search(
    client,
    train: Path,
    validation: Path,
    grid: Sequence[dict[str, Any]],
    *,
    base: dict[str, Any],
    state_dir: Path,
    timeout: float = 3600,
    on_job: Callable[[int, int, str, dict[str, Any]], None] | None = None,
) -> list[GridResult]:
    """Train one job per setting (re-attaching to finished ones) and collect their validation curves; `on_job(k, n,
    job_id, hyperparameters)` hears of each job as it starts, so a view can show job k of n and its progress."""
    results = []
    for i, hp in enumerate(grid):
        settings = {**base, "method": supervised_method(hp), "suffix": f"grid{i}"}
        job_id = launch_or_attach(client, train, validation, settings, state_dir / f"grid-{i}.json")
        if on_job is not None:
            on_job(i + 1, len(grid), job_id, dict(hp))
        job = wait(client, job_id, timeout=timeout)
        curve = loss_curve(client.fine_tuning.jobs.list_events(job_id, limit=100))
        results.append(GridResult(hp, job_id, job.status, job.fine_tuned_model, curve.steps, curve.valid_loss))
    return results


def search_edge(results: Sequence[GridResult], best: GridResult) -> str | None:
    """What it means when the search's winner is the highest or the lowest learning rate it tried (None when it sits
    inside the range, where the search has bracketed it)."""
    rates = sorted({r.settings["learning_rate_multiplier"] for r in results})
    won = best.settings["learning_rate_multiplier"]
    if len(rates) < 2 or rates[0] < won < rates[-1]:
        return None
    if won == rates[-1]:
        return (
            f"The winner, lr x{won}, is the highest learning rate searched, so the search cannot say whether a higher "
            "one would do better. The rule stays a low learning rate: a higher rate learns faster on one short epoch "
            "and overfits sooner on a whole run. The panel opens at this winner, the top of the range; go higher only "
            "if the main job's validation loss is still falling steeply at its end."
        )
    return (
        f"The winner, lr x{won}, is the lowest learning rate searched: a lower one might do as well. It is the safe "
        "side of the rule; the panel opens here."
    )


def chosen_model(client, job_id: str) -> tuple[str, str]:
    """The model to evaluate for a finished job, and why, in words.

    Where the backend stopped early (the embedded engine), its final model is already the
    best one. Elsewhere (OpenAI has no early stopping, and keeps the last checkpoints), the
    checkpoint with the lowest validation loss, by the same rule the job monitor shows.
    """
    job = client.fine_tuning.jobs.retrieve(job_id)
    events = list(client.fine_tuning.jobs.list_events(job_id, limit=100))  # every page
    stop = stop_from_events(events)
    if stop is not None:
        return job.fine_tuned_model, f"early stopping kept the model from step {stop.kept_step}: {job.fine_tuned_model}"
    checkpoints = [c.model_dump() for c in client.fine_tuning.jobs.checkpoints.list(job_id).data]
    best = pick_checkpoint(checkpoints, overfitting_from_events(events)) if checkpoints else None
    loss = ((best or {}).get("metrics") or {}).get("full_valid_loss")
    if best is None or loss is None:
        return job.fine_tuned_model, f"the job's final model: {job.fine_tuned_model}"
    return (
        best["fine_tuned_model_checkpoint"],
        f"the checkpoint at step {best['step_number']}, lowest validation loss ({loss:.4f}): "
        f"{best['fine_tuned_model_checkpoint']}",
    )


def best_by_validation(results: Sequence[GridResult]) -> GridResult:
    """The setting with the lowest final validation loss (never chosen on test data)."""
    done = [r for r in results if r.status == "succeeded" and r.valid_loss]
    if not done:
        raise ValueError("no grid run succeeded with a validation loss")
    return min(done, key=lambda r: r.final_valid_loss)


def train_small(
    client,
    split: Path,
    state_dir: Path,
    *,
    model: str = DEFAULT_BASE_MODEL,
    n_train: int = 64,
    n_valid: int = 16,
    seed: int = 42,
) -> str:
    """A small one-epoch fine-tune on the first examples of a split (a later notebook's fallback when
    step 4 has not been run); re-running attaches to the same job. Returns the fine-tuned model."""
    state_dir.mkdir(parents=True, exist_ok=True)
    train, valid = state_dir / "small_train.jsonl", state_dir / "small_valid.jsonl"
    write_jsonl(train, load_jsonl(split / "train.jsonl")[:n_train], overwrite=True)
    write_jsonl(valid, load_jsonl(split / "validation.jsonl")[:n_valid], overwrite=True)
    settings = {
        "model": model,
        "seed": seed,
        "suffix": "small",
        "metadata": dict(ALLOW_SMALL_METADATA),
        "method": supervised_method({"n_epochs": 1}),
    }
    job = wait(client, launch_or_attach(client, train, valid, settings, state_dir / "small_job.json"))
    if job.status != "succeeded":
        raise RuntimeError(f"the small fine-tuning job {job.id} ended {job.status}: {job.error}")
    return job.fine_tuned_model
