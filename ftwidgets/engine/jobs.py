"""The life of a fine-tuning job: validating_files -> queued -> running -> succeeded | failed | cancelled.

`JobRunner` is one background thread. It validates uploaded files with the same
validator the workbook uses (a bad file fails the job naming the code and line),
resolves "auto" hyperparameters by the data core's rules, launches one trainer
process at a time, watches it, and turns its outcome into the job object, the
fine-tuned model and the result file. After a restart, a job that was running is
marked failed with a clear message, and its orphaned trainer is stopped.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from openai.types.fine_tuning import FineTuningJob

from ..data.findings import CODES, ERROR
from ..data.validate import Rules, validate_file, validate_preference_file
from ..hyperparams import (
    DPO,
    SUPERVISED,
    check_plan,
    hyperparameter_names,
    method_object,
    resolve_hyperparameters,
)
from ..job_options import job_option
from ..runtime import disk, machine
from ..runtime.job_states import ACTIVE, FINAL
from ..tokens import hand_back_tokenizer_memory
from . import data_parallel, memory_plan
from .contract import JobError, JobFolder, TrainerSpec, now
from .recipe import trainer_spec
from .settings import EngineSettings
from .store import NotFound, Store

log = logging.getLogger(__name__)


def _validation_error(report, param: str, file_id: str) -> JobError:
    first = report.first_error()
    where = f" on line {first.line}" if first and first.line else ""
    summary = ", ".join(f"{c} x{n}" for c, n in report.counts.items() if CODES[c].severity == ERROR)
    message = (
        f"{param} {file_id} has {report.error_count} error(s) ({summary}); first: {first.code}{where}: {first.message}"
        if first
        else f"{param} {file_id} is invalid"
    )
    return JobError(code="invalid_" + param, param=param, message=message)


ENGINE_RESTARTED = JobError(
    code="engine_restarted",
    message="The engine stopped while this job was running, so it did not finish. Create a new job to train again.",
)


ENGINE_STOPPED = JobError(
    code="engine_stopped",
    message="The engine was stopped while this job was running, so it did not finish. Create a new job to train again.",
)


class JobRunner:
    """Validates, queues, launches and watches jobs; one trainer process at a time."""

    def __init__(self, store: Store, settings: EngineSettings, *, before_training: Callable[[], None] | None = None):
        self.store = store
        self.settings = settings
        self.before_training = before_training  # e.g. the chat models let go of memory a trainer needs
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._proc: subprocess.Popen | None = None
        self._proc_job: str | None = None
        self._lock = threading.RLock()
        self.recover()
        self._thread = threading.Thread(target=self._loop, name="ftw-jobs", daemon=True)
        self._thread.start()

    # --- after a restart -----------------------------------------------------------------
    def recover(self) -> None:
        for job in self.store.iter_active_jobs():
            if job.status == "running":
                self._kill_orphan(self.store.job_folder(job.id))
                self._fail(job.id, ENGINE_RESTARTED, "The engine restarted while this job was running; the job failed.")

    @staticmethod
    def _kill_orphan(folder: JobFolder) -> None:
        pid = folder.read_pid()
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes() if pid else b""
        except OSError:
            return
        if data_parallel.TRAINER_MODULE.encode() in cmdline:
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass

    # --- API hooks -------------------------------------------------------------------------
    def wake(self) -> None:
        self._wake.set()

    def cancel(self, job_id: str) -> FineTuningJob:
        with self._lock:
            job = self.store.get_job(job_id)
            if job.status in FINAL:
                return job
            if self._proc_job == job_id and self._proc is not None:
                self._terminate(self._proc)
            job = self.store.transition(job_id, ACTIVE, status="cancelled", finished_at=now())
            if job is None:
                return self.store.get_job(job_id)
            self.store.event(job_id, "Fine-tuning job cancelled")
            return job

    def stop(self) -> None:
        """Stop the trainer with the engine; its job is failed with that reason, never left running."""
        self._stop.set()
        self._wake.set()
        with self._lock:
            if self._proc is not None:
                if self._proc.poll() is not None:  # it ended on its own just now: its outcome stands
                    self._finish(self._proc_job, self._proc.returncode)
                else:
                    self._terminate(self._proc)
                    self._fail(self._proc_job, ENGINE_STOPPED)
                self._proc = self._proc_job = None

    @staticmethod
    def _terminate(proc: subprocess.Popen) -> None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass

    # --- the loop --------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._tick()
            except Exception as exc:  # noqa: BLE001 - the runner must survive any one job's problem
                log.exception("job runner error: %r", exc)
            self._wake.wait(0.5)
            self._wake.clear()

    def _tick(self) -> None:
        for job in sorted(self.store.iter_active_jobs(), key=lambda j: j.created_at):
            if job.status == "validating_files":
                try:
                    self._validate(job)
                finally:  # the checker's tokenizer held 70 MB of the engine for the rest of a learner's session
                    hand_back_tokenizer_memory()
        with self._lock:
            if self._proc is not None and self._proc.poll() is not None:
                self._finish(self._proc_job, self._proc.returncode)
                self._proc = self._proc_job = None
            if self._proc is None:
                queued = [
                    j for j in sorted(self.store.iter_active_jobs(), key=lambda j: j.created_at) if j.status == "queued"
                ]
                if queued:
                    self._launch(queued[0])

    # --- validating_files -> queued ------------------------------------------------------------
    def _validate(self, job: FineTuningJob) -> None:
        """Check the files with the workbook's validator and resolve "auto"; a bad file fails the job."""
        notes: list[str] = []  # warnings, reported only if the job is still alive when validation ends
        n_train = 0
        kind = job.method.type
        for param in ("training_file", "validation_file"):
            file_id = getattr(job, param)
            if not file_id:
                continue
            try:
                path = self.store.file_path(file_id)
            except NotFound:
                self._fail(
                    job.id,
                    JobError(code=f"invalid_{param}", param=param, message=f"{param} {file_id} no longer exists"),
                )
                return
            rules = self._rules(job, param)
            # a DPO job's files hold preference pairs, checked line by line by their own validator, under the same
            # size rule
            report = (
                validate_preference_file(path, rules=rules)
                if kind == DPO
                else validate_file(path, rules=rules, workers=1)
            )
            if not report.valid:
                self._fail(job.id, _validation_error(report, param, file_id))
                return
            notes += [
                f"{param} {file_id}: {row['count']} x {row['code']}: {row['title']}. {row['hint']}"
                for row in report.summary()
            ]
            n_train = report.examples if param == "training_file" else n_train
        refusal = self._memory_refusal(self.starting_point(job.model)[0])
        if refusal:
            self._fail(job.id, JobError(code="insufficient_memory", param="model", message=refusal))
            return
        requested = getattr(job.method, kind).hyperparameters.model_dump(exclude_none=True)  # as the client asked
        hp = resolve_hyperparameters(requested, n_train, kind)
        plan = check_plan(
            n_train,
            n_epochs=hp["n_epochs"],
            learning_rate_multiplier=hp["learning_rate_multiplier"],
            allow_small=True,
            allow_many_epochs=True,
        )  # size and epochs were judged already
        notes += [g.message for g in plan.warnings if g.field != "examples"]
        if job_option(job.metadata, "early_stopping") and not job.validation_file:
            notes.append(
                f"Early stopping needs a validation file to watch; without one this job trains all "
                f"{hp['n_epochs']} epoch(s)."
            )
        job_hp = {k: hp[k] for k in hyperparameter_names(SUPERVISED)}  # the older field has no beta; the method does
        if self.store.transition(
            job.id, ("validating_files",), status="queued", hyperparameters=job_hp, method=method_object(kind, hp)
        ):
            for note in notes:
                self.store.event(job.id, note, level="warn")
            self.store.event(job.id, "Files validated, moving job to queued state")

    def starting_point(self, model: str) -> tuple[str, str | None]:
        """The base model a job trains on and the adapter it starts from: (model, None) for a base model; for a model
        fine-tuned here (a DPO job may start from one), its base and its adapter."""
        entry = self.store.models().get(model)
        return (entry.base, entry.adapter) if entry is not None else (model, None)

    def _memory_refusal(self, base_model: str) -> str | None:
        """Why a job on `base_model` cannot fit in this machine's memory (memory_plan), or None."""
        try:
            planned = memory_plan.plan(base_model, self.settings.train_processes, cpu_bf16=self.settings.cpu_bf16)
        except (
            OSError,
            ValueError,
            KeyError,
        ) as exc:  # an unreadable model folder fails later, when the trainer loads it
            log.warning("no memory plan for %s: %r", base_model, exc)
            return None
        return planned.refusal() if planned is not None else None

    @staticmethod
    def _rules(job: FineTuningJob, param: str) -> Rules:
        """The training file follows the size rule (with the job's override); a validation file may be small."""
        if param == "training_file":
            return Rules(allow_small=job_option(job.metadata, "allow_small_dataset"), near_duplicates=True)
        return Rules(allow_small=True, hard_min_examples=1, min_examples=1, recommended_examples=1)

    def _fail(self, job_id: str, error: JobError, event: str | None = None) -> None:
        if self.store.transition(job_id, ACTIVE, status="failed", error=error.model_dump(), finished_at=now()):
            self.store.event(job_id, event or error.message, level="error")

    # --- queued -> running ---------------------------------------------------------------------
    def spec_for(self, job: FineTuningJob) -> TrainerSpec:
        """What the trainer needs for this job, every setting resolved (the recipe's `trainer_spec`)."""
        base, start_adapter = self.starting_point(job.model)
        return trainer_spec(
            job,
            self.settings,
            base=base,
            start_adapter=start_adapter,
            training_path=self.store.file_path(job.training_file),
            validation_path=self.store.file_path(job.validation_file) if job.validation_file else None,
        )

    def _launch(self, job: FineTuningJob) -> None:
        if self.before_training is not None:
            self.before_training()
        folder = self.store.job_folder(job.id)
        folder.write_spec(self.spec_for(job))
        cmd = self._trainer_command()
        with open(folder.log_file, "ab") as log:
            self._proc = subprocess.Popen(
                [*cmd, str(folder.path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=machine.default_allocator_env(),
            )
        self._proc_job = job.id
        folder.write_pid(self._proc.pid)
        if self.store.transition(job.id, ("queued",), status="running", estimated_finish=None) is None:
            self._terminate(self._proc)  # cancelled meanwhile
            return
        self.store.event(job.id, "Fine-tuning job started")

    def _trainer_command(self) -> list[str]:
        if self.settings.train_processes > 1:
            return data_parallel.launch_command(self.settings.train_processes, self.settings.threads)
        return [sys.executable, "-m", data_parallel.TRAINER_MODULE]

    # --- running -> succeeded | failed ------------------------------------------------------------
    def _finish(self, job_id: str, returncode: int) -> None:
        job = self.store.get_job(job_id)
        if job.status == "cancelled":
            return
        folder = self.store.job_folder(job_id)
        outcome = folder.read_outcome()
        if outcome is None and (disk.free_bytes(folder.path) or 0) < 2**20:  # no room even for the outcome
            self._fail(
                job_id,
                JobError(code="disk_full", message=disk.training_stopped(folder.path)),
            )
            return
        if outcome is None:
            group = (
                f" (one of its {self.settings.train_processes} processes, or their launcher)"
                if self.settings.train_processes > 1
                else ""
            )
            self._fail(
                job_id,
                JobError(
                    code="trainer_crashed",
                    message=f"The trainer process{group} stopped unexpectedly "
                    f"(exit code {returncode}); see {folder.log_file}",
                ),
            )
            return
        if outcome.status != "succeeded":
            self._fail(job_id, outcome.error or JobError(code="training_error", message="training failed"))
            return
        base = folder.read_spec().base_model  # a DPO job from a fine-tuned model: one adapter on the same base
        self.store.add_model(outcome.fine_tuned_model, outcome.adapter, base, job_id)
        for ckpt in outcome.checkpoints:
            self.store.add_model(ckpt.fine_tuned_model_checkpoint, ckpt.adapter, base, job_id)
        result = self.store.add_file_bytes(folder.metrics_csv.read_bytes(), "step_metrics.csv", "fine-tune-results")
        self.store.transition(
            job_id,
            ("running",),
            status="succeeded",
            fine_tuned_model=outcome.fine_tuned_model,
            finished_at=now(),
            trained_tokens=outcome.trained_tokens,
            result_files=[result.id],
        )
        self.store.event(job_id, f"New fine-tuned model created: {outcome.fine_tuned_model}")
        self.store.event(job_id, "The job has successfully completed")
