"""Everything the engine keeps, on disk in one folder, so it survives a restart.

    <data_dir>/files/<file-id>.json + .data     uploaded files and result files
    <data_dir>/jobs/<ftjob-id>/job.json         the job object as OpenAI shapes it
    <data_dir>/jobs/<ftjob-id>/events.jsonl     events, appended by the server and the trainer
    <data_dir>/jobs/<ftjob-id>/checkpoints/     one adapter folder per kept checkpoint
    <data_dir>/models.json                      fine-tuned model name -> adapter folder

Ids are checked against a strict pattern before they touch a path, so a request
can never name a file outside the data folder.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Iterator

from ..dataset import read_log, write_json_atomic
from ..job_states import ACTIVE

ID_PATTERN = re.compile(r"^(file|ftjob|ftckpt|ftevent)-[A-Za-z0-9]{8,64}$")


class NotFound(KeyError):
    """No such object (or a malformed id, which is reported the same way)."""


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(12)}"


def now() -> int:
    return int(time.time())


def append_event(job_dir: Path, message: str, *, level: str = "info", type: str = "message", data: Any = None) -> dict:
    """Append one event line; a single O_APPEND write, so the server and the trainer can share the file."""
    event = {
        "id": new_id("ftevent"),
        "object": "fine_tuning.job.event",
        "created_at": now(),
        "level": level,
        "message": message,
        "type": type,
        "data": data,
    }
    line = (json.dumps(event) + "\n").encode()
    fd = os.open(job_dir / "events.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)
    return event


class Store:
    """Thread-safe access to the engine's folder."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).expanduser().resolve()
        for sub in ("files", "jobs"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()

    # --- ids and paths ---------------------------------------------------------------
    @staticmethod
    def check_id(value: str, prefix: str) -> str:
        if not isinstance(value, str) or not ID_PATTERN.match(value) or not value.startswith(prefix + "-"):
            raise NotFound(value)
        return value

    def job_dir(self, job_id: str) -> Path:
        return self.root / "jobs" / self.check_id(job_id, "ftjob")

    # --- files -----------------------------------------------------------------------
    def add_file(self, data_path: Path, filename: str, purpose: str, nbytes: int) -> dict:
        file_id = new_id("file")
        obj = {
            "id": file_id,
            "object": "file",
            "bytes": nbytes,
            "created_at": now(),
            "filename": filename,
            "purpose": purpose,
            "status": "processed",
            "status_details": None,
            "expires_at": None,
        }
        with self.lock:
            os.replace(data_path, self.root / "files" / f"{file_id}.data")
            write_json_atomic(self.root / "files" / f"{file_id}.json", obj)
        return obj

    def add_file_bytes(self, content: bytes, filename: str, purpose: str) -> dict:
        fd, tmp = tempfile.mkstemp(dir=self.root / "files", prefix=".upload-")
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
        return self.add_file(Path(tmp), filename, purpose, len(content))

    def get_file(self, file_id: str) -> dict:
        p = self.root / "files" / f"{self.check_id(file_id, 'file')}.json"
        try:
            return json.loads(p.read_text())
        except FileNotFoundError:
            raise NotFound(file_id) from None

    def file_path(self, file_id: str) -> Path:
        self.get_file(file_id)
        return self.root / "files" / f"{file_id}.data"

    def list_files(self, purpose: str | None = None) -> list[dict]:
        out = []
        for p in (self.root / "files").glob("file-*.json"):
            try:
                obj = json.loads(p.read_text())
            except (OSError, ValueError):
                continue
            if purpose is None or obj.get("purpose") == purpose:
                out.append(obj)
        return sorted(out, key=lambda o: (o["created_at"], o["id"]))

    def delete_file(self, file_id: str) -> None:
        with self.lock:
            self.get_file(file_id)
            for suffix in (".json", ".data"):
                (self.root / "files" / f"{file_id}{suffix}").unlink(missing_ok=True)

    # --- jobs ------------------------------------------------------------------------
    def save_job(self, job: dict) -> None:
        with self.lock:
            write_json_atomic(self.job_dir(job["id"]) / "job.json", job)

    def get_job(self, job_id: str) -> dict:
        try:
            return json.loads((self.job_dir(job_id) / "job.json").read_text())
        except FileNotFoundError:
            raise NotFound(job_id) from None

    def transition(self, job_id: str, expected: tuple[str, ...], **changes: Any) -> dict | None:
        """Apply ``changes`` only while the job's status is one of ``expected`` (no lost cancels)."""
        with self.lock:
            job = self.get_job(job_id)
            if job["status"] not in expected:
                return None
            job.update(changes)
            self.save_job(job)
            return job

    def list_jobs(self) -> list[dict]:
        out = []
        for p in (self.root / "jobs").glob("ftjob-*/job.json"):
            try:
                out.append(json.loads(p.read_text()))
            except (OSError, ValueError):
                continue
        return sorted(out, key=lambda j: (j["created_at"], j["id"]), reverse=True)

    def events(self, job_id: str) -> list[dict]:
        """Events newest first, as OpenAI lists them."""
        return read_log(self.job_dir(job_id) / "events.jsonl")[::-1]  # a line being written right now is skipped

    def event(self, job_id: str, message: str, **kw: Any) -> dict:
        return append_event(self.job_dir(job_id), message, **kw)

    def checkpoints(self, job_id: str) -> list[dict]:
        p = self.job_dir(job_id) / "checkpoints.json"
        try:
            return json.loads(p.read_text())
        except FileNotFoundError:
            return []

    # --- fine-tuned models -------------------------------------------------------------
    def _models_path(self) -> Path:
        return self.root / "models.json"

    def models(self) -> dict[str, dict]:
        try:
            return json.loads(self._models_path().read_text())
        except FileNotFoundError:
            return {}

    def add_model(self, name: str, adapter: Path, base: str, job_id: str) -> None:
        with self.lock:
            models = self.models()
            models[name] = {"adapter": str(adapter), "base": base, "job": job_id, "created": now()}
            write_json_atomic(self._models_path(), models)

    def delete_model(self, name: str) -> dict:
        with self.lock:
            models = self.models()
            if name not in models:
                raise NotFound(name)
            entry = models.pop(name)
            write_json_atomic(self._models_path(), models)
        adapter = Path(entry["adapter"])
        if adapter.is_dir() and self.root in adapter.resolve().parents:
            shutil.rmtree(adapter, ignore_errors=True)
        return entry

    def iter_active_jobs(self) -> Iterator[dict]:
        for job in self.list_jobs():
            if job["status"] in ACTIVE:
                yield job
