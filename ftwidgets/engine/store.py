"""Everything the engine keeps, on disk in one folder, so it survives a restart.

    <data_dir>/files/<file-id>.json + .data     uploaded files and result files (`FileObject`)
    <data_dir>/jobs/<ftjob-id>/job.json         the job (`FineTuningJob`, as OpenAI shapes it)
    <data_dir>/jobs/<ftjob-id>/...              the rest of a job's folder (`contract.JobFolder`)
    <data_dir>/models.json                      fine-tuned model name -> adapter folder (`RegisteredModel`)

Objects are typed with the `openai` package's own models, so each shape is defined once.
Ids are checked against a strict pattern before they touch a path, so a request can
never name a file outside the data folder.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from openai.types import FileObject
from openai.types.fine_tuning import FineTuningJob
from pydantic import BaseModel

from ..runtime.job_states import ACTIVE
from ..runtime.safe_files import atomic_write, write_json_atomic
from .contract import JobFolder, new_id, now

log = logging.getLogger(__name__)

ID_PATTERN = re.compile(r"^(file|ftjob|ftckpt|ftevent)-[A-Za-z0-9]{8,64}$")


class NotFound(KeyError):
    """No such object (or a malformed id, which is reported the same way)."""


class TooLarge(ValueError):
    """An upload over the size limit (nothing of it is kept)."""


class RegisteredModel(BaseModel):
    """A fine-tuned model the engine can serve: its base and its LoRA adapter."""

    adapter: str
    base: str
    job: str
    created: int


def wire(obj: BaseModel) -> dict[str, Any]:
    """The JSON a client receives for an object: exactly the fields it was given, nothing added."""
    return obj.model_dump(mode="json", exclude_unset=True)


class Store:
    """Thread-safe access to the engine's folder."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).expanduser().resolve()
        for sub in ("files", "jobs"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self._reported: set[tuple[str, float]] = set()  # damaged records already written to the log
        self._reported_lock = threading.Lock()  # the job runner's thread lists jobs beside the API's

    # --- ids and paths ---------------------------------------------------------------
    @staticmethod
    def check_id(value: str, prefix: str) -> str:
        if not isinstance(value, str) or not ID_PATTERN.match(value) or not value.startswith(prefix + "-"):
            raise NotFound(value)
        return value

    def job_folder(self, job_id: str) -> JobFolder:
        return JobFolder(self.root / "jobs" / self.check_id(job_id, "ftjob"))

    # --- files -----------------------------------------------------------------------
    def receive_file(self, stream: IO[bytes], filename: str, purpose: str, max_bytes: int) -> FileObject:
        """Copy an upload into the store in chunks; over `max_bytes` raises `TooLarge` and keeps nothing.

        The content is complete on disk before its description is: a listed file can always be read.
        """
        file_id, size = new_id("file"), 0
        data = self.root / "files" / f"{file_id}.data"
        try:
            with atomic_write(data) as fh:
                while chunk := stream.read(1 << 20):
                    size += len(chunk)
                    if size > max_bytes:
                        raise TooLarge(f"File is larger than the {max_bytes:,}-byte limit")
                    fh.write(chunk)
            file = FileObject(
                id=file_id,
                object="file",
                bytes=size,
                created_at=now(),
                filename=filename,
                purpose=purpose,
                status="processed",
                status_details=None,
                expires_at=None,
            )
            write_json_atomic(self.root / "files" / f"{file_id}.json", wire(file))
        except BaseException:
            data.unlink(missing_ok=True)  # content without its description would be a file nobody can list or delete
            raise
        return file

    def add_file_bytes(self, content: bytes, filename: str, purpose: str) -> FileObject:
        import io

        return self.receive_file(io.BytesIO(content), filename, purpose, len(content))

    def get_file(self, file_id: str) -> FileObject:
        p = self.root / "files" / f"{self.check_id(file_id, 'file')}.json"
        try:
            return FileObject.model_validate_json(p.read_bytes())
        except FileNotFoundError:
            raise NotFound(file_id) from None

    def file_path(self, file_id: str) -> Path:
        self.get_file(file_id)
        return self.root / "files" / f"{file_id}.data"

    def list_files(self, purpose: str | None = None) -> list[FileObject]:
        """Every file; one whose record cannot be read is listed with status "error" and the reason, not hidden."""
        out = []
        for p in (self.root / "files").glob("file-*.json"):
            try:
                file = FileObject.model_validate_json(p.read_bytes())
            except (OSError, ValueError) as exc:
                file = self._damaged_file(p, exc)
            if purpose is None or file.purpose == purpose:
                out.append(file)
        return sorted(out, key=lambda f: (f.created_at, f.id))

    def _damaged_file(self, record: Path, exc: Exception) -> FileObject:
        reason = self._damaged(record, exc)
        data = record.with_suffix(".data")
        return FileObject(
            id=record.stem,
            object="file",
            bytes=data.stat().st_size if data.exists() else 0,
            created_at=int(record.stat().st_mtime),
            filename="(damaged record)",
            purpose="fine-tune",
            status="error",
            status_details=reason,
            expires_at=None,
        )

    def _damaged(self, record: Path, exc: Exception) -> str:
        """Why a record cannot be read, in words; the engine's log gets one line per damaged record."""
        reason = f"its record {record} could not be read ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})"
        key = (str(record), record.stat().st_mtime if record.exists() else 0)
        with self._reported_lock:
            first_time = key not in self._reported
            self._reported.add(key)
        if first_time:
            log.warning("damaged record: %s", reason)
        return reason

    def delete_file(self, file_id: str) -> None:
        with self.lock:
            self.get_file(file_id)
            for suffix in (".json", ".data"):
                (self.root / "files" / f"{file_id}{suffix}").unlink(missing_ok=True)

    # --- jobs ------------------------------------------------------------------------
    def save_job(self, job: FineTuningJob) -> None:
        with self.lock:
            folder = self.job_folder(job.id)
            folder.path.mkdir(parents=True, exist_ok=True)
            write_json_atomic(folder.path / "job.json", wire(job))

    def get_job(self, job_id: str) -> FineTuningJob:
        record = self.job_folder(job_id).path / "job.json"
        try:
            return FineTuningJob.model_validate_json(record.read_bytes())
        except FileNotFoundError:
            raise NotFound(job_id) from None
        except (OSError, ValueError) as exc:
            return self._damaged_job(record, exc)

    def _damaged_job(self, record: Path, exc: Exception) -> FineTuningJob:
        """A job whose record cannot be read, listed as failed with the reason (never hidden, never run)."""
        reason = self._damaged(record, exc)
        return FineTuningJob(
            id=record.parent.name,
            object="fine_tuning.job",
            created_at=int(record.stat().st_mtime),
            finished_at=None,
            error={
                "code": "damaged_record",
                "message": f"This job cannot be shown or resumed: {reason}.",
                "param": None,
            },
            fine_tuned_model=None,
            hyperparameters={},
            model="unknown",
            organization_id="org-ftwidgets",
            result_files=[],
            seed=0,
            status="failed",
            trained_tokens=None,
            training_file="unknown",
            validation_file=None,
        )

    def transition(self, job_id: str, expected: tuple[str, ...], **changes: Any) -> FineTuningJob | None:
        """Apply ``changes`` only while the job's status is one of ``expected`` (no lost cancels)."""
        with self.lock:
            job = self.get_job(job_id)
            if job.status not in expected:
                return None
            job = FineTuningJob.model_validate({**wire(job), **changes})
            self.save_job(job)
            return job

    def list_jobs(self) -> list[FineTuningJob]:
        """Every job, newest first."""
        out = []
        for p in (self.root / "jobs").glob("ftjob-*/job.json"):
            try:
                out.append(FineTuningJob.model_validate_json(p.read_bytes()))
            except (OSError, ValueError) as exc:
                out.append(self._damaged_job(p, exc))
        return sorted(out, key=lambda j: (j.created_at, j.id), reverse=True)

    def iter_active_jobs(self) -> Iterator[FineTuningJob]:
        for job in self.list_jobs():
            if job.status in ACTIVE:
                yield job

    def event(self, job_id: str, message: str, **kw: Any) -> dict:
        return self.job_folder(job_id).event(message, **kw)

    # --- fine-tuned models -------------------------------------------------------------
    def _models_path(self) -> Path:
        return self.root / "models.json"

    def models(self) -> dict[str, RegisteredModel]:
        try:
            return {
                name: RegisteredModel.model_validate(m)
                for name, m in json.loads(self._models_path().read_text()).items()
            }
        except FileNotFoundError:
            return {}

    def _save_models(self, models: dict[str, RegisteredModel]) -> None:
        write_json_atomic(self._models_path(), {name: m.model_dump() for name, m in models.items()})

    def add_model(self, name: str, adapter: str | Path, base: str, job_id: str) -> None:
        with self.lock:
            models = self.models()
            models[name] = RegisteredModel(adapter=str(adapter), base=base, job=job_id, created=now())
            self._save_models(models)

    def delete_model(self, name: str) -> RegisteredModel:
        with self.lock:
            models = self.models()
            if name not in models:
                raise NotFound(name)
            entry = models.pop(name)
            self._save_models(models)
        adapter = Path(entry.adapter)
        if adapter.is_dir() and self.root in adapter.resolve().parents:
            shutil.rmtree(adapter, ignore_errors=True)
        return entry
