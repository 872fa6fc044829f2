"""Faults that say what happened: a full disk is said to be one (with the space left) and leaves nothing partial,
the engine keeps serving, and a damaged record is listed as failed with its reason instead of hidden."""

import errno
import io
import json
import logging
import os
import threading

import openai
import pytest

from ftwidgets.engine import start
from ftwidgets.engine.contract import JobFolder
from ftwidgets.engine.store import Store
from ftwidgets.engine.trainer import _failure
from ftwidgets.runtime import disk, safe_files

from ..conftest import chat
from .conftest import wait_for


def no_room(*_args, **_kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.fixture()
def engine(tmp_path):
    handle = start(tmp_path / "engine", api_key="k", threads=1)
    yield handle, handle.client(max_retries=0, _strict_response_validation=True)
    handle.stop()


def upload(client, text: bytes):
    buf = io.BytesIO(text)
    buf.name = "train.jsonl"
    return client.files.create(file=buf, purpose="fine-tune")


def test_a_full_disk_during_an_upload_names_the_disk_and_keeps_nothing(engine, monkeypatch, capfd):
    handle, client = engine
    kept = upload(client, b'{"messages": []}\n')
    before = sorted(p.name for p in (handle.data_dir / "files").iterdir())
    with monkeypatch.context() as m:
        m.setattr(safe_files.os, "fsync", no_room)  # the write reaches a disk with no room
        with pytest.raises(openai.APIStatusError) as e:
            upload(client, b'{"messages": [{"role": "user", "content": "hi"}]}\n' * 100)
    assert e.value.status_code == 507 and e.value.code == "disk_full"
    assert f"The disk holding {handle.data_dir} is full" in e.value.message and "MB free" in e.value.message
    assert sorted(p.name for p in (handle.data_dir / "files").iterdir()) == before  # not even a temporary file
    assert [f.id for f in client.files.list().data] == [kept.id]
    assert "is full" in capfd.readouterr().err  # a line in the engine's log
    assert upload(client, b'{"messages": []}\n').id  # and it keeps serving


def test_a_damaged_job_or_file_record_is_listed_as_failed_with_its_reason(engine, capfd):
    handle, client = engine
    f = upload(client, json.dumps(chat()).encode() + b"\n")
    job = client.fine_tuning.jobs.create(model="smollm2-135m-instruct", training_file=f.id)
    assert wait_for(client, job.id, timeout=60).status == "failed"  # one example is too few: the job fails at once
    (handle.data_dir / "jobs" / job.id / "job.json").write_text('{"id": "ftjob-')  # cut off, as by a power cut
    (handle.data_dir / "files" / f"{f.id}.json").write_text("not json")
    listed = {j.id: j for j in client.fine_tuning.jobs.list().data}
    assert listed[job.id].status == "failed" and listed[job.id].error.code == "damaged_record"
    assert "job.json could not be read" in listed[job.id].error.message
    assert client.fine_tuning.jobs.retrieve(job.id).status == "failed"
    files = {x.id: x for x in client.files.list().data}
    assert files[f.id].status == "error" and "could not be read" in files[f.id].status_details
    log = capfd.readouterr().err
    assert (
        log.count(f"damaged record: its record {handle.data_dir / 'jobs' / job.id / 'job.json'}") == 1
    )  # once, not per listing


def test_a_damaged_record_read_by_many_threads_at_once_is_logged_once(tmp_path, caplog, monkeypatch):
    """The job runner's thread lists jobs while the API lists them: the check and the note must be one step."""
    store = Store(tmp_path)
    folder = tmp_path / "jobs" / "ftjob-0123456789abcdef01234567"
    folder.mkdir(parents=True)
    (folder / "job.json").write_text('{"id": "ftjob-')
    checked = threading.Barrier(8)

    class SlowSet(set):  # every thread has checked before any adds: the widest window a race can have
        def __contains__(self, key):
            found = set.__contains__(self, key)
            try:
                checked.wait(timeout=0.5)  # a lock lets one thread in at a time: the barrier breaks, and that is right
            except threading.BrokenBarrierError:
                pass
            return found

    monkeypatch.setattr(store, "_reported", SlowSet())
    threads = [threading.Thread(target=store.list_jobs) for _ in range(8)]
    with caplog.at_level(logging.WARNING, logger="ftwidgets.engine.store"):
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert sum("damaged record" in r.getMessage() for r in caplog.records) == 1


def test_a_full_disk_while_training_fails_the_job_saying_so(tmp_path):
    error = _failure(OSError(errno.ENOSPC, "No space left on device"), 0, None, JobFolder(tmp_path))
    assert error.code == "disk_full" and f"The disk holding {tmp_path} is full" in error.message


def test_the_review_store_and_the_answer_cache_say_a_full_disk_and_keep_their_lines(tmp_path, monkeypatch):
    log = tmp_path / "reviews.jsonl"
    safe_files.append_durably(log, {"n": 1})
    before = log.read_bytes()
    monkeypatch.setattr(safe_files.os, "fsync", no_room)
    with pytest.raises(disk.DiskFull) as e:
        safe_files.append_durably(log, {"n": 2})
    assert f"The disk holding {tmp_path} is full" in str(e.value) and e.value.errno == errno.ENOSPC
    assert log.read_bytes() == before  # the half line cut back off
    with pytest.raises(disk.DiskFull):
        safe_files.write_json_atomic(tmp_path / "manifest.json", {"a": 1})
    assert sorted(os.listdir(tmp_path)) == ["reviews.jsonl"]  # no temporary file left


def test_a_full_disk_while_converting_the_model_leaves_no_half_model(tmp_path, monkeypatch):
    from ftwidgets.engine import models

    monkeypatch.setenv("FTW_MODEL_CACHE", str(tmp_path / "models"))
    monkeypatch.setattr("transformers.PreTrainedModel.save_pretrained", no_room)
    with pytest.raises(disk.DiskFull) as e:
        models.ensure_converted()
    assert "is full" in str(e.value) and "converted smollm2-135m-instruct" in str(e.value)
    assert [p.name for p in (tmp_path / "models").iterdir() if not p.name.endswith(".lock")] == []


def test_a_full_disk_while_copying_the_model_to_bfloat16_leaves_no_half_copy(tiny_llama, tmp_path, monkeypatch):
    import shutil

    from ftwidgets.engine import models

    monkeypatch.setenv("FTW_MODEL_CACHE", str(tmp_path / "models"))
    shutil.copytree(tiny_llama, models.converted_path())
    monkeypatch.setattr("safetensors.torch.save_file", no_room)
    with pytest.raises(disk.DiskFull) as e:
        models.ensure_converted(dtype="bfloat16")
    assert "is full" in str(e.value) and "the bfloat16 copy of smollm2-135m-instruct" in str(e.value)
    left = sorted(p.name for p in (tmp_path / "models").iterdir() if not p.name.endswith(".lock"))
    assert left == ["smollm2-135m-instruct"]  # the float32 folder only: no partial copy
