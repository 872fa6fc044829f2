"""The typed contract between the job runner and the trainer process, and the folder they share.

The runner writes a `TrainerSpec` (what to train) into the job's folder and starts the
trainer, which appends events, keeps checkpoints and writes a `TrainerOutcome` last.
Both sides read and write these models only through `JobFolder`, so a new setting is a
field here and a line where the runner fills it in, nothing else.

    <data_dir>/jobs/<ftjob-id>/job.json          the job object as OpenAI shapes it (the store's)
                              spec.json          TrainerSpec
                              outcome.json       TrainerOutcome (its absence after exit means a crash)
                              events.jsonl       events, appended by the runner and the trainer
                              checkpoints.json   the kept checkpoints, newest first
                              checkpoints/step-N one adapter folder per kept checkpoint
                              model/             the final adapter
                              metrics.csv        the step metrics (the job's result file)
                              frozen_prefix.bin  the frozen lower layers' output, while the job trains
                                                 (frozen_prefix-rank1.bin ... from the other processes
                                                 of a data-parallel job)
                              progress.json      the steps done and when (the job's estimated_finish)
                              trainer.pid, trainer.log
"""

from __future__ import annotations

import json
import os
import secrets
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from ..runtime.safe_files import dump_json, read_log, write_json_atomic
from .lora import LoraSettings


class TrainerSpec(BaseModel):
    """Everything the trainer needs for one job, resolved: no "auto" is left."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    job_id: str
    base_model: str
    method: Literal["supervised", "dpo"] = "supervised"
    beta: float | None = None  # DPO's: how far the policy may move from the starting model
    start_adapter: str | None = None  # the adapter of a fine-tuned starting model, trained on from where it is
    training_path: str
    validation_path: str | None = None
    n_epochs: int
    batch_size: int
    learning_rate: float
    seed: int
    threads: int | None = None
    max_seq_len: int
    validations_per_job: int = 30  # evaluations of the fixed validation sample over the whole job
    early_stopping_patience: int | None = None  # None: train every planned step
    max_batch_tokens: int | None = None
    processes: int = 1  # data-parallel processes (`accelerate launch`); the update is the same for any number
    labelled_logits: bool = True  # the output layer only where a label is (same loss, less work)
    length_buckets: int = 0  # batches cut from runs of this many batches sorted by length (0: plain shuffle)
    reuse_frozen_layers: bool = True  # with LoRA on the top layers only, compute the layers below once per example
    cpu_bf16: bool = True  # frozen base weights in bfloat16 where the CPU has it (LoRA, optimiser, loss in float32)
    lora: LoraSettings
    fine_tuned_model: str  # the name the finished model is registered under


class JobError(BaseModel):
    """OpenAI's job error: a machine-readable code, the words for a person, the parameter at fault."""

    code: str
    message: str
    param: str | None = None


class CheckpointRecord(BaseModel):
    """OpenAI's checkpoint object plus where its adapter lies (never sent to clients)."""

    id: str
    object: Literal["fine_tuning.job.checkpoint"] = "fine_tuning.job.checkpoint"
    created_at: int
    fine_tuned_model_checkpoint: str
    fine_tuning_job_id: str
    step_number: int
    metrics: dict[str, Any]
    adapter: str

    def public(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude={"adapter"})


class TrainerOutcome(BaseModel):
    """What the trainer made of its job: a model and its checkpoints, or an error."""

    status: Literal["succeeded", "failed"]
    fine_tuned_model: str | None = None
    adapter: str | None = None
    trained_tokens: int = 0
    train_seconds: float = 0.0
    tokens_per_second: float | None = None
    checkpoints: list[CheckpointRecord] = []
    error: JobError | None = None


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(12)}"


def now() -> int:
    return int(time.time())


class JobFolder:
    """One job's folder: the only code that knows its file names."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.spec_file = self.path / "spec.json"
        self.outcome_file = self.path / "outcome.json"
        self.events_file = self.path / "events.jsonl"
        self.checkpoints_file = self.path / "checkpoints.json"
        self.metrics_csv = self.path / "metrics.csv"
        self.model_dir = self.path / "model"
        self.pid_file = self.path / "trainer.pid"
        self.progress_file = self.path / "progress.json"
        self.log_file = self.path / "trainer.log"

    def checkpoint_dir(self, step: int) -> Path:
        return self.path / "checkpoints" / f"step-{step}"

    def frozen_prefix_file(self, rank: int = 0) -> Path:
        return self._of_process("frozen_prefix.bin", rank)

    def traceback_file(self, rank: int = 0) -> Path:
        return self._of_process("trainer-traceback.txt", rank)

    def _of_process(self, name: str, rank: int) -> Path:
        """A file each process of a data-parallel job keeps for itself: the main one's under `name`, the others'
        with ``-rankN`` before the extension."""
        stem, _, extension = name.rpartition(".")
        return self.path / (name if rank == 0 else f"{stem}-rank{rank}.{extension}")

    # --- the contract ------------------------------------------------------------------
    def write_spec(self, spec: TrainerSpec) -> None:
        write_json_atomic(self.spec_file, spec.model_dump(mode="json"))

    def read_spec(self) -> TrainerSpec:
        return TrainerSpec.model_validate_json(self.spec_file.read_bytes())

    def write_outcome(self, outcome: TrainerOutcome) -> None:
        write_json_atomic(self.outcome_file, outcome.model_dump(mode="json"))

    def read_outcome(self) -> TrainerOutcome | None:
        """The trainer's outcome; None when it wrote none (it crashed, or was killed)."""
        try:
            return TrainerOutcome.model_validate_json(self.outcome_file.read_bytes())
        except (OSError, ValueError):
            return None

    # --- events and checkpoints ------------------------------------------------------------
    def event(self, message: str, *, level: str = "info", type: str = "message", data: Any = None) -> dict:
        """Append one event: a single O_APPEND write, so the runner and the trainer can share the file."""
        event = {
            "id": new_id("ftevent"),
            "object": "fine_tuning.job.event",
            "created_at": now(),
            "level": level,
            "message": message,
            "type": type,
            "data": data,
        }
        fd = os.open(self.events_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, dump_json(event) + b"\n")
        finally:
            os.close(fd)
        return event

    def events(self) -> list[dict]:
        """Events newest first, as OpenAI lists them (a line being written right now is skipped)."""
        return read_log(self.events_file)[::-1]

    def write_checkpoints(self, checkpoints: list[CheckpointRecord]) -> None:
        write_json_atomic(self.checkpoints_file, [c.model_dump(mode="json") for c in checkpoints])

    def checkpoints(self) -> list[CheckpointRecord]:
        try:
            return [CheckpointRecord.model_validate(c) for c in json.loads(self.checkpoints_file.read_text())]
        except FileNotFoundError:
            return []

    # --- progress: the steps done, for the job's estimated_finish ---------------------------------
    def write_progress(self, step: int, total_steps: int, started: float) -> None:
        write_json_atomic(
            self.progress_file, {"step": step, "total_steps": total_steps, "started": started, "at": time.time()}
        )

    def estimated_finish(self, now: float | None = None) -> int | None:
        """When the job's last step should end, from the mean time of its steps so far (None before the first)."""
        try:
            p = json.loads(self.progress_file.read_text())
            step, total, started, at = int(p["step"]), int(p["total_steps"]), float(p["started"]), float(p["at"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if step < 1:
            return None
        per_step = (at - started) / step
        return int(max(now or time.time(), at + per_step * max(0, total - step)))

    # --- the trainer process -------------------------------------------------------------------
    def write_pid(self, pid: int) -> None:
        self.pid_file.write_text(str(pid))

    def read_pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text())
        except (OSError, ValueError):
            return None
