"""The life of a fine-tuning job: validating_files -> queued -> running -> succeeded | failed | cancelled.

`JobRunner` is one background thread. It validates uploaded files with the same
validator the workbook uses (a bad file fails the job naming the code and line),
resolves "auto" hyperparameters by the data core's rules, launches one trainer
process at a time, watches it, and turns its outcome into the job object, the
fine-tuned model and the result file. After a restart, a job that was running is
marked failed with a clear message, and its orphaned trainer is stopped.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import machine
from ..dataset import write_json_atomic
from ..findings import CODES, ERROR
from ..hyperparams import (
    ALLOW_SMALL_METADATA,
    check_plan,
    metadata_flag,
    resolve_hyperparameters,
    supervised_method,
)
from ..job_states import ACTIVE, FINAL
from ..validate import Rules, validate_file
from . import models
from .store import NotFound, Store, now

ORG = "ftwidgets"
BASE_LEARNING_RATE = 2e-3  # LoRA learning rate at learning_rate_multiplier = 1 (measured: learns the
# math-tutor format in one epoch of 64 examples; 2e-4 learned nothing in two)
MAX_SEQ_LEN = 1024
# attention projections only: measured to learn the math-tutor format in one epoch of 64 examples
# as well as all seven projections, and about 8% faster (README, "Performance")
LORA = {"r": 8, "alpha": 16, "dropout": 0.0, "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"]}


# Tokens per forward pass when memory is tight (mybinder gives 2 GiB). Measured with
# benchmarks/trainer_memory.py on SmolLM2 at batch 4 (medians): trainer peak 1.40 GB at 128,
# 1.59 GB at 256, 2.35 GB unlimited; tokens/s alike within the machine's noise.
# binder/start and scripts/run_workbook.py repeat the number (a test keeps them equal) so
# their processes need not import the engine.
TIGHT_MEMORY_BATCH_TOKENS = 128


def default_max_batch_tokens() -> int | None:
    """Tokens per training forward pass: unlimited unless memory is tight.

    ``FTW_MAX_BATCH_TOKENS`` sets it (0 = unlimited). Otherwise a container memory limit
    under 4 GiB selects ``TIGHT_MEMORY_BATCH_TOKENS``.
    """
    env = os.environ.get("FTW_MAX_BATCH_TOKENS")
    if env is not None and env.strip():
        return int(env) or None
    limit = machine.memory_limit_bytes()
    return TIGHT_MEMORY_BATCH_TOKENS if limit is not None and limit < 4 * 2**30 else None


@dataclass
class EngineSettings:
    # base models clients may fine-tune and chat with: the embedded one, plus local folders or
    # Hugging Face ids the operator adds (clients can never name arbitrary paths)
    base_models: tuple[str, ...] = (models.DEFAULT_BASE_MODEL,)
    threads: int | None = None
    max_seq_len: int = MAX_SEQ_LEN
    max_upload_bytes: int = 512 * 1024 * 1024
    eval_every: int = 1
    max_batch_tokens: int | None = field(default_factory=default_max_batch_tokens)
    trainer_command: str | None = None  # e.g. "accelerate launch -m ftwidgets.engine.trainer"


def fine_tuned_name(base: str, suffix: str | None, job_id: str) -> str:
    short_base = base if "/" not in base and os.sep not in base else Path(base).name
    return f"ft:{short_base}:{ORG}:{suffix or ''}:{job_id.split('-', 1)[1][:8]}"


def _validation_error(report, param: str, file_id: str) -> dict[str, Any]:
    first = report.first_error()
    where = f" on line {first.line}" if first and first.line else ""
    summary = ", ".join(f"{c} x{n}" for c, n in report.counts.items() if CODES[c].severity == ERROR)
    return {
        "code": "invalid_" + param,
        "param": param,
        "message": f"{param} {file_id} has {report.error_count} error(s) ({summary}); first: {first.code}{where}: {first.message}"
        if first else f"{param} {file_id} is invalid",
    }


class JobRunner:
    """Validates, queues, launches and watches jobs; one trainer process at a time."""

    def __init__(self, store: Store, settings: EngineSettings):
        self.store = store
        self.settings = settings
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
            if job["status"] == "running":
                self._kill_orphan(job["id"])
                self.store.transition(job["id"], ("running",), status="failed", finished_at=now(), error={
                    "code": "engine_restarted",
                    "message": "The engine stopped while this job was running, so it did not finish. Create a new job to train again.",
                    "param": None,
                })
                self.store.event(job["id"], "The engine restarted while this job was running; the job failed.", level="error")

    def _kill_orphan(self, job_id: str) -> None:
        pid_file = self.store.job_dir(job_id) / "trainer.pid"
        try:
            pid = int(pid_file.read_text())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            return
        if b"ftwidgets.engine.trainer" in cmdline:
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass

    # --- API hooks -------------------------------------------------------------------------
    def wake(self) -> None:
        self._wake.set()

    def cancel(self, job_id: str) -> dict:
        with self._lock:
            job = self.store.get_job(job_id)
            if job["status"] in FINAL:
                return job
            if self._proc_job == job_id and self._proc is not None:
                self._terminate(self._proc)
            job = self.store.transition(job_id, ACTIVE, status="cancelled", finished_at=now())
            if job is None:
                return self.store.get_job(job_id)
            self.store.event(job_id, "Fine-tuning job cancelled")
            return job

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        with self._lock:
            if self._proc is not None:
                self._terminate(self._proc)

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
                print(f"ftw engine: job runner error: {exc!r}", file=sys.stderr)
            self._wake.wait(0.5)
            self._wake.clear()

    def _tick(self) -> None:
        jobs = sorted(self.store.iter_active_jobs(), key=lambda j: j["created_at"])
        for job in jobs:
            if job["status"] == "validating_files":
                self._validate(job)
        with self._lock:
            if self._proc is not None and self._proc.poll() is not None:
                self._finish(self._proc_job, self._proc.returncode)
                self._proc = self._proc_job = None
            if self._proc is None:
                queued = [j for j in sorted(self.store.iter_active_jobs(), key=lambda j: j["created_at"]) if j["status"] == "queued"]
                if queued:
                    self._launch(queued[0])

    def _validate(self, job: dict) -> None:
        job_id = job["id"]
        allow_small = metadata_flag(job.get("metadata"), ALLOW_SMALL_METADATA)
        rules = Rules(allow_small=allow_small, near_duplicates=True)
        n_train = 0
        notes: list[str] = []  # warnings, reported only if the job is still alive when validation ends
        for param in ("training_file", "validation_file"):
            file_id = job.get(param)
            if not file_id:
                continue
            try:
                path = self.store.file_path(file_id)
            except NotFound:
                self._fail(job_id, {"code": f"invalid_{param}", "param": param, "message": f"{param} {file_id} no longer exists"})
                return
            file_rules = rules if param == "training_file" else Rules(allow_small=True, hard_min_examples=1, min_examples=1,
                                                                       recommended_examples=1)
            report = validate_file(path, rules=file_rules, workers=1)
            if not report.valid:
                self._fail(job_id, _validation_error(report, param, file_id))
                return
            notes += [f"{param} {file_id}: {row['count']} x {row['code']}: {row['title']}. {row['hint']}" for row in report.summary()]
            if param == "training_file":
                n_train = report.examples
        hp = resolve_hyperparameters(job.get("_requested_hyperparameters") or {}, n_train)
        plan = check_plan(n_train, n_epochs=hp["n_epochs"], learning_rate_multiplier=hp["learning_rate_multiplier"],
                          allow_small=True, allow_many_epochs=True)  # the size rule was applied by the validator
        notes += [g.message for g in plan.warnings if g.field != "examples"]
        method = supervised_method(hp)
        if self.store.transition(job_id, ("validating_files",), status="queued", hyperparameters=hp, method=method,
                                 _n_train_examples=n_train):
            for note in notes:
                self.store.event(job_id, note, level="warn")
            self.store.event(job_id, "Files validated, moving job to queued state")

    def _fail(self, job_id: str, error: dict) -> None:
        if self.store.transition(job_id, ACTIVE, status="failed", error=error, finished_at=now()):
            self.store.event(job_id, error["message"], level="error")

    def _launch(self, job: dict) -> None:
        job_id = job["id"]
        job_dir = self.store.job_dir(job_id)
        hp = job["hyperparameters"]
        spec = {
            "job_id": job_id,
            "base_model": job["model"],
            "training_path": str(self.store.file_path(job["training_file"])),
            "validation_path": str(self.store.file_path(job["validation_file"])) if job.get("validation_file") else None,
            "n_epochs": hp["n_epochs"],
            "batch_size": hp["batch_size"],
            "learning_rate": BASE_LEARNING_RATE * hp["learning_rate_multiplier"],
            "seed": job["seed"],
            "threads": self.settings.threads,
            "max_seq_len": self.settings.max_seq_len,
            "eval_every": self.settings.eval_every,
            "max_batch_tokens": self.settings.max_batch_tokens,
            "lora": LORA,
            "fine_tuned_model": fine_tuned_name(job["model"], job.get("user_provided_suffix"), job_id),
        }
        write_json_atomic(job_dir / "spec.json", spec)
        cmd = shlex.split(self.settings.trainer_command) if self.settings.trainer_command else [sys.executable, "-m", "ftwidgets.engine.trainer"]
        log = open(job_dir / "trainer.log", "ab")
        self._proc = subprocess.Popen([*cmd, str(job_dir)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self._proc_job = job_id
        (job_dir / "trainer.pid").write_text(str(self._proc.pid))
        if self.store.transition(job_id, ("queued",), status="running", estimated_finish=None) is None:
            self._terminate(self._proc)  # cancelled meanwhile
            return
        self.store.event(job_id, "Fine-tuning job started")

    def _finish(self, job_id: str, returncode: int) -> None:
        job = self.store.get_job(job_id)
        if job["status"] == "cancelled":
            return
        job_dir = self.store.job_dir(job_id)
        try:
            outcome = json.loads((job_dir / "outcome.json").read_text())
        except (OSError, ValueError):
            outcome = {"status": "failed", "error": {
                "code": "trainer_crashed", "param": None,
                "message": f"The trainer process stopped unexpectedly (exit code {returncode}); see {job_dir / 'trainer.log'}",
            }}
        if outcome["status"] != "succeeded":
            self._fail(job_id, outcome["error"])
            return
        spec = json.loads((job_dir / "spec.json").read_text())
        name = spec["fine_tuned_model"]
        self.store.add_model(name, Path(outcome["adapter"]), job["model"], job_id)
        for ckpt in outcome.get("checkpoints", []):
            self.store.add_model(ckpt["fine_tuned_model_checkpoint"], Path(ckpt["adapter"]), job["model"], job_id)
        result = self.store.add_file_bytes((job_dir / "metrics.csv").read_bytes(), "step_metrics.csv", "fine-tune-results")
        self.store.transition(
            job_id, ("running",), status="succeeded", fine_tuned_model=name, finished_at=now(), trained_tokens=outcome["trained_tokens"],
            result_files=[result["id"]], _tokens_per_second=outcome.get("tokens_per_second"),
        )
        self.store.event(job_id, f"New fine-tuned model created: {name}")
        self.store.event(job_id, "The job has successfully completed")
