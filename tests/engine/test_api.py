"""The engine's API contract, without training: files, jobs, errors, auth, ids."""

import httpx
import openai
import pytest

from ftwidgets.data.dataset import load_jsonl

from ..conftest import SAMPLES
from .conftest import upload, wait_for

MATH = load_jsonl(SAMPLES / "math_tutor.jsonl")


def test_files_crud_and_pagination(client):
    ids = [upload(client, MATH[i * 10 : (i + 1) * 10], f"part{i}.jsonl").id for i in range(3)]
    f = client.files.retrieve(ids[0])
    assert f.filename == "part0.jsonl" and f.purpose == "fine-tune" and f.bytes > 0
    assert client.files.content(ids[1]).text.splitlines()[0] == __import__("json").dumps(MATH[10])
    page = client.files.list(limit=2)
    assert len(page.data) == 2 and page.has_more
    listed = [x.id for x in client.files.list(limit=2)]  # auto-pagination terminates
    assert set(ids) <= set(listed)
    deleted = client.files.delete(ids[2])
    assert deleted.deleted and deleted.id == ids[2]
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(ids[2])


def test_auth_is_required(engine):
    bad = openai.OpenAI(base_url=engine.base_url, api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as e:
        bad.files.list()
    assert e.value.status_code == 401 and e.value.code == "invalid_api_key"
    r = httpx.get(engine.base_url + "/models")
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"


@pytest.mark.parametrize(
    "bad_id", ["../../etc/passwd", "file-../../x", "..%2F..%2Fjob.json", "ftjob-abc/../../x", "file-" + "a" * 300]
)
def test_path_traversal_ids_are_404(engine, bad_id):
    h = {"Authorization": f"Bearer {engine.api_key}"}
    for url in (
        f"/files/{bad_id}",
        f"/files/{bad_id}/content",
        f"/fine_tuning/jobs/{bad_id}",
        f"/fine_tuning/jobs/{bad_id}/events",
    ):
        r = httpx.get(engine.base_url + url, headers=h)
        assert r.status_code in (404, 400), (url, r.status_code)
        assert "error" in r.json()


def test_bad_job_requests_are_400_with_openai_errors(client):
    f = upload(client, MATH[:20])
    cases = [
        dict(model="gpt-9", training_file=f.id),
        dict(model="smollm2-135m-instruct", training_file="file-doesnotexist00"),
        dict(model="smollm2-135m-instruct", training_file=f.id, hyperparameters={"n_epochs": 0}),
        dict(model="smollm2-135m-instruct", training_file=f.id, hyperparameters={"n_epochs": "many"}),
        dict(model="smollm2-135m-instruct", training_file=f.id, method={"type": "reinforcement", "reinforcement": {}}),
        dict(model="smollm2-135m-instruct", training_file=f.id, suffix="x" * 65),
    ]
    for kw in cases:
        with pytest.raises(openai.BadRequestError) as e:
            client.fine_tuning.jobs.create(**kw)
        assert e.value.body["message"] and e.value.status_code == 400, kw


def test_fifty_epochs_refused_unless_explicit(client):
    """The seed's "never 50 epochs" holds on the engine too, whatever a notebook cell sends."""
    f = upload(client, MATH[:120])
    before = len(client.fine_tuning.jobs.list(limit=100).data)
    for hp in ({"n_epochs": 50}, {"n_epochs": 26}):
        with pytest.raises(openai.BadRequestError) as e:
            client.fine_tuning.jobs.create(
                model="smollm2-135m-instruct",
                training_file=f.id,
                method={"type": "supervised", "supervised": {"hyperparameters": hp}},
            )
        assert e.value.status_code == 400 and e.value.code == "invalid_hyperparameter"
        assert (
            f"{hp['n_epochs']} epochs will memorise" in e.value.body["message"]
            and "allow_many_epochs" in e.value.body["message"]
        )
        assert e.value.body["param"] == "hyperparameters.n_epochs"
    assert len(client.fine_tuning.jobs.list(limit=100).data) == before  # nothing created
    job = client.fine_tuning.jobs.create(
        model="smollm2-135m-instruct",
        training_file=f.id,
        hyperparameters={"n_epochs": 50},
        metadata={"allow_many_epochs": "true"},
    )
    assert job.status == "validating_files" and job.hyperparameters.n_epochs == 50
    client.fine_tuning.jobs.cancel(job.id)
    job = client.fine_tuning.jobs.create(
        model="smollm2-135m-instruct", training_file=f.id, hyperparameters={"n_epochs": 25}
    )
    client.fine_tuning.jobs.cancel(job.id)  # 25 is the most without the override


def test_bad_training_file_fails_the_job_with_code_and_line(client):
    f = upload(client, (SAMPLES / "broken.jsonl").read_bytes())
    job = client.fine_tuning.jobs.create(model="smollm2-135m-instruct", training_file=f.id)
    assert job.status == "validating_files"
    job = wait_for(client, job.id, timeout=60)
    assert job.status == "failed" and job.error.code == "invalid_training_file"
    assert "invalid_json" in job.error.message and "line 1" in job.error.message and job.error.param == "training_file"
    messages = [e.message for e in client.fine_tuning.jobs.list_events(job.id)]
    assert any("line 1" in m for m in messages)


def test_tiny_dataset_refused_unless_explicit(client):
    f = upload(client, MATH[:30])
    job = wait_for(
        client, client.fine_tuning.jobs.create(model="smollm2-135m-instruct", training_file=f.id).id, timeout=60
    )
    assert job.status == "failed" and "too_few_examples" in job.error.message


def test_the_engine_lets_the_tokenizer_go_once_a_jobs_files_are_checked(client):
    """Checking a job's files loads the tokenizer (about 70 MB); an engine that kept it held that much more for the
    rest of a learner's session. The engine runs in this process here, so its tokenizer is this process's."""
    import time

    from ftwidgets import tokens
    from ftwidgets.data import validate

    validate.validate_file(SAMPLES / "math_tutor.jsonl")  # what the engine's check does: it loads the tokenizer
    assert tokens.get_encoding.cache_info().currsize == 1
    job = client.fine_tuning.jobs.create(model="smollm2-135m-instruct", training_file=upload(client, MATH[:30]).id)
    assert wait_for(client, job.id, timeout=60).status == "failed"  # checked, and refused as too small
    deadline = time.monotonic() + 10  # the job is marked failed a moment before the check hands its memory back
    while tokens.get_encoding.cache_info().currsize and time.monotonic() < deadline:
        time.sleep(0.05)
    assert tokens.get_encoding.cache_info().currsize == 0 and validate._checker is None


def test_cancel_metadata_filter_and_event_pagination(client):
    f = upload(client, MATH[:120])
    jobs = [
        client.fine_tuning.jobs.create(
            model="smollm2-135m-instruct",
            training_file=f.id,
            metadata={"run": f"r{i}"},
            hyperparameters={"n_epochs": 1},
        )
        for i in range(2)
    ]
    # the first may start training; the second waits in the queue: cancel both
    for j in jobs:
        cancelled = client.fine_tuning.jobs.cancel(j.id)
        assert cancelled.status == "cancelled"
    with pytest.raises(openai.BadRequestError):
        client.fine_tuning.jobs.cancel(jobs[0].id)
    found = client.fine_tuning.jobs.list(metadata={"run": "r1"})
    assert [j.id for j in found.data] == [jobs[1].id]
    first = client.fine_tuning.jobs.list_events(jobs[0].id, limit=1)
    assert len(first.data) == 1 and first.has_more
    rest = client.fine_tuning.jobs.list_events(jobs[0].id, after=first.data[0].id, limit=50)
    assert first.data[0].id not in [e.id for e in rest.data]
    assert first.data[0].message == "Fine-tuning job cancelled"


def test_models_and_chat_errors(client):
    ids = [m.id for m in client.models.list()]
    assert "smollm2-135m-instruct" in ids
    assert client.models.retrieve("smollm2-135m-instruct").owned_by
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("ft:nope:x::y")
    with pytest.raises(openai.NotFoundError):
        client.models.delete("ft:nope:x::y")
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="ft:nope", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="smollm2-135m-instruct", messages=[])
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(
            model="smollm2-135m-instruct", messages=[{"role": "user", "content": "hi"}], temperature=5
        )


def test_integrations_are_accepted_with_an_event_saying_they_are_ignored(client):
    """OpenAI's W&B integration sent to the engine (the same launch code runs on every backend): the job is made,
    and its events say plainly that nothing is sent anywhere."""
    f = upload(client, MATH[:120])
    job = client.fine_tuning.jobs.create(
        model="smollm2-135m-instruct",
        training_file=f.id,
        integrations=[{"type": "wandb", "wandb": {"project": "workbook"}}],
    )
    client.fine_tuning.jobs.cancel(job.id)
    said = [e for e in client.fine_tuning.jobs.list_events(job.id, limit=50)]
    warning = [e for e in said if "ignores integrations (wandb)" in e.message]
    assert len(warning) == 1 and warning[0].level == "warn" and "sends nothing out" in warning[0].message


def test_the_package_reaches_the_engine_without_a_second_http_library():
    """openai 3 brings its own HTTP stack (httpx2): starting an engine and asking it over the client loads no httpx."""
    import subprocess
    import sys

    code = (
        "import sys, tempfile\n"
        "from ftwidgets.engine import start\n"
        "h = start(tempfile.mkdtemp(), api_key='k', threads=1)\n"
        "assert h.client(max_retries=0).models.list().data\n"
        "h.stop()\n"
        "print(sorted(m for m in sys.modules if m == 'httpx' or m.startswith('httpx.')))\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.strip() == "[]", p.stdout
