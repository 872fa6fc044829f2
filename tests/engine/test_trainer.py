"""Real fine-tuning through the official client: the tuned model must beat the base model.

CI-sized: 64 training examples, one epoch, batch 4 (16 steps) on the CPU.
"""

import re
import time
from pathlib import Path

import pytest

from ftwidgets.data.dataset import load_jsonl
from ftwidgets.engine import models, start
from ftwidgets.engine.server import _alive
from ftwidgets.evaluation.evaluate import compare, evaluate, to_eval_items
from ftwidgets.metrics import exact_match, format_compliance

from ..conftest import SAMPLES
from .conftest import upload, wait_for

pytestmark = pytest.mark.slow

MATH = load_jsonl(SAMPLES / "math_tutor.jsonl")
FORMAT = re.compile(r"Step 1:.*Answer: -?\d+\s*$", re.S)


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    handle = start(tmp_path_factory.mktemp("engine-train"), api_key="train-key")
    yield handle
    handle.stop()


def test_fine_tune_end_to_end_beats_the_base_model(client, engine, tmp_path):
    train = upload(client, MATH[:64], "train.jsonl")
    valid = upload(client, MATH[1000:1016], "validation.jsonl")
    job = client.fine_tuning.jobs.create(
        model="smollm2-135m-instruct",
        training_file=train.id,
        validation_file=valid.id,
        suffix="math",
        seed=7,
        method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 1, "batch_size": 4}}},
        metadata={"allow_small_dataset": "true", "purpose": "ci"},
    )
    job = wait_for(client, job.id)
    assert job.status == "succeeded", job.error
    assert job.fine_tuned_model.startswith("ft:smollm2-135m-instruct:ftwidgets:math:")
    assert job.trained_tokens > 5000 and job.hyperparameters.n_epochs == 1 and job.hyperparameters.batch_size == 4

    events = list(client.fine_tuning.jobs.list_events(job.id, limit=100))
    metrics = sorted((e.data for e in events if e.type == "metrics"), key=lambda d: d["step"])
    assert [m["step"] for m in metrics] == list(range(1, 17)) and all(m["total_steps"] == 16 for m in metrics)
    assert {"train_loss", "train_mean_token_accuracy", "valid_loss", "valid_mean_token_accuracy"} <= set(metrics[0])
    assert "full_valid_loss" in metrics[-1]
    assert metrics[-1]["train_loss"] < metrics[0]["train_loss"]  # it learned something
    assert any(e.message == "The job has successfully completed" for e in events)

    csv = client.files.content(job.result_files[0]).text.strip().splitlines()
    assert csv[0] == "step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy" and len(csv) == 17

    ckpts = client.fine_tuning.jobs.checkpoints.list(job.id).data
    assert [c.step_number for c in ckpts] == [16] and ckpts[0].metrics.full_valid_loss is not None
    assert ckpts[0].fine_tuned_model_checkpoint in [m.id for m in client.models.list()]

    # the workbook's own evaluation path: both models on held-out prompts, concurrently (so batched), cached
    items = to_eval_items(MATH[1100:1120])
    t0 = time.perf_counter()
    ev = evaluate(
        client,
        items,
        {"base": "smollm2-135m-instruct", "fine_tuned": job.fine_tuned_model},
        cache_dir=tmp_path,
        concurrency=20,
        max_tokens=160,
    )
    print(f"evaluation: {time.perf_counter() - t0:.0f} s for 40 answers in {engine_batches(engine)} batched calls")
    comp = compare(ev, [format_compliance(FORMAT), exact_match()], resamples=2000)
    fmt = comp.results[0]
    print(comp.verdict())
    assert fmt.candidate >= 0.75 and fmt.candidate >= fmt.baseline + 0.5, (
        fmt,
        ev.answers("fine_tuned")[:2],
        ev.answers("base")[:2],
    )
    assert fmt.p_value < 0.01 and fmt.sentence.startswith("fine-tuned is better on format compliance")
    assert engine._server is not None and engine_batches(engine) < 20  # 40 answers in a handful of batched calls
    batches = engine_batches(engine)
    again = evaluate(client, items, ev.models, cache_dir=tmp_path, concurrency=20, max_tokens=160)
    assert engine_batches(engine) == batches and again.answers("fine_tuned") == ev.answers(
        "fine_tuned"
    )  # resumed from disk
    prompts = [it.messages for it in items]

    stream = client.chat.completions.create(
        model=job.fine_tuned_model, messages=prompts[0], temperature=0, max_tokens=60, stream=True
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text.startswith("Step 1") and chunks[-1].choices[0].finish_reason in ("stop", "length")

    TRAINED["job"] = job


TRAINED: dict = {}  # the end-to-end test's job, for the tests after it


def test_every_export_keeps_the_taught_format(engine, tmp_path):
    """The model taken out of the engine as an adapter, a merged folder and a GGUF file (F16), each run by the
    library that reads it, offline, in a process that never imports ftwidgets: each still answers held-out prompts
    in the taught format."""
    from ftwidgets.engine.export import export

    from .test_export import answers_outside

    job = TRAINED.get("job") or pytest.skip("needs the end-to-end test's model (run the module)")
    prompts = [m["messages"][:-1] for m in MATH[1100:1104]]
    base = models.ensure_converted()
    for fmt in ("adapter", "merged", "gguf"):
        out = export(job.fine_tuned_model, fmt, tmp_path / fmt, data_dir=engine.data_dir)
        gguf = next(out.glob("*.gguf"), None)
        answers = answers_outside(
            fmt, out, base if fmt == "adapter" else gguf.name if gguf else "", prompts=prompts, new_tokens=160
        )
        formatted = sum(bool(FORMAT.search(a)) for a in answers)
        print(fmt, f"{formatted}/{len(prompts)} in the taught format;", answers[0][:80])
        assert formatted >= 3, (fmt, answers)


def test_a_deleted_model_is_gone(client):
    job = TRAINED.get("job") or pytest.skip("needs the end-to-end test's model (run the module)")
    deleted = client.models.delete(job.fine_tuned_model)
    assert deleted.deleted and job.fine_tuned_model not in [m.id for m in client.models.list()]


def engine_batches(engine) -> int:
    return engine._server.config.app.state.engine.generator.batches


def test_cancel_stops_the_trainer_within_seconds(client, engine):
    f = upload(client, MATH[:200])
    job = client.fine_tuning.jobs.create(
        model="smollm2-135m-instruct", training_file=f.id, hyperparameters={"n_epochs": 3}
    )
    job = wait_for(client, job.id, statuses=("running",), timeout=120)
    deadline = time.monotonic() + 120  # a running job says when it should end, from its measured steps
    while job.estimated_finish is None and time.monotonic() < deadline:
        time.sleep(0.5)
        job = client.fine_tuning.jobs.retrieve(job.id)
    assert job.status == "running" and time.time() - 5 < job.estimated_finish < time.time() + 3 * 3600, job
    assert client.fine_tuning.jobs.list().data[0].estimated_finish is not None  # the list says it too
    pid = int((Path(engine.data_dir) / "jobs" / job.id / "trainer.pid").read_text())
    time.sleep(1)
    t0 = time.monotonic()
    assert client.fine_tuning.jobs.cancel(job.id).status == "cancelled"
    while _alive(pid) and time.monotonic() - t0 < 15:
        time.sleep(0.2)
    assert not _alive(pid), "trainer still running 15 s after cancel"
    time.sleep(1.5)
    job = client.fine_tuning.jobs.retrieve(job.id)
    assert job.status == "cancelled" and job.fine_tuned_model is None
