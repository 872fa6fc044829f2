from ftwidgets.widgets import JobMonitor

from ..conftest import SAMPLES


def _events(train, valid):
    return [
        {"type": "metrics", "data": {"step": i + 1, "total_steps": len(train), "train_loss": t, "valid_loss": v}}
        for i, (t, v) in enumerate(zip(train, valid))
    ] + [{"type": "message", "data": None}]


def test_overfitting_verdict_on_a_synthetic_history():
    m = JobMonitor()
    train = [2.0, 1.5, 1.1, 0.8, 0.5, 0.3, 0.2]
    valid = [2.0, 1.6, 1.3, 1.25, 1.4, 1.6, 1.8]
    ckpts = [
        {"fine_tuned_model_checkpoint": f"ft:x:ckpt-step-{s}", "step_number": s, "metrics": {"train_loss": 0.1}}
        for s in (7, 4, 2)
    ]
    m.show({"id": "ftjob-1", "status": "succeeded", "fine_tuned_model": "ft:x"}, _events(train, valid), ckpts)
    assert "Overfitting" in m.verdict.value and "step 4" in m.verdict.value
    assert m.progress.value == m.progress.max == 7
    assert m.cancel.disabled
    assert "ckpt-step-4" in m.checkpoints.value and "keep" in m.checkpoints.value
    assert [t["name"] for t in m.figure["data"]] == ["training loss", "validation loss"]
    assert list(m.figure["data"][1]["y"]) == valid
    assert m.plot.outputs[0]["data"]["application/vnd.plotly.v1+json"] == m.figure  # drawn by plotly.js


def test_a_cancelled_job_gets_no_overfitting_verdict():
    m = JobMonitor()
    ckpts = [{"fine_tuned_model_checkpoint": "ft:x:ckpt-step-2", "step_number": 2, "metrics": {"full_valid_loss": 1.3}}]
    m.show({"id": "ftjob-3", "status": "cancelled"}, _events([2.0, 1.5, 1.2, 1.0], [2.0, 1.6, 1.4, 1.3]), ckpts)
    assert "No sign" not in m.verdict.value and "Overfitting" not in m.verdict.value
    assert "cancelled at step 4" in m.verdict.value and "1 checkpoint(s) exist" in m.verdict.value
    assert "ckpt-step-2" in m.checkpoints.value and "keep" not in m.checkpoints.value
    m.show({"id": "ftjob-4", "status": "failed"}, [], [])
    assert "failed before its first step" in m.verdict.value and "no checkpoint exists" in m.verdict.value


def test_healthy_run_in_progress():
    m = JobMonitor()
    m.show({"id": "ftjob-2", "status": "running"}, _events([2.0, 1.5, 1.2], [2.0, 1.6, 1.4])[:3], [])
    assert "No sign" in m.verdict.value and m.progress.value == 3 and not m.cancel.disabled


def test_refresh_against_the_engine_shows_a_failed_job(client):
    import io

    buf = io.BytesIO((SAMPLES / "broken.jsonl").read_bytes())
    buf.name = "broken.jsonl"
    f = client.files.create(file=buf, purpose="fine-tune")
    job = client.fine_tuning.jobs.create(model="smollm2-135m-instruct", training_file=f.id)
    m = JobMonitor(client, job.id)
    assert m.wait(every=0.3, timeout=60) == "failed"
    assert "invalid_training_file" in m.status.value and "line 1" in m.status.value
    assert m.cancel.disabled and "failed before its first step" in m.verdict.value


def test_an_early_stop_is_named_and_the_kept_model_marked():
    m = JobMonitor()
    events = _events([2.0, 1.5, 1.2, 1.0, 0.9, 0.8], [2.0, 1.6, 1.3, 1.31, 1.32, 1.33]) + [
        {"type": "message", "data": {"stopped_at": 6, "total_steps": 12, "kept_step": 3}},
        {"type": "message", "data": {"kept_step": 3}},
    ]
    m.show({"id": "ftjob-5", "status": "succeeded", "fine_tuned_model": "ft:x"}, events, [])
    assert "stopped at step 6 of 12 planned" in m.verdict.value and "from step 3" in m.verdict.value
    assert [s["x0"] for s in m.figure["layout"]["shapes"]] == [3]  # a line where the kept model was measured


def test_the_keep_mark_is_the_kept_model_and_a_full_run_is_not_called_a_stop():
    """A run whose validation loss is lowest at its last step: the monitor says it ran every planned step, and the
    table marks that step, the model early stopping kept, even where another checkpoint's full loss is lower."""
    m = JobMonitor()
    events = _events([2.0, 1.5, 1.2, 1.0], [2.0, 1.6, 1.3, 1.2]) + [{"type": "message", "data": {"kept_step": 4}}]
    ckpts = [
        {"fine_tuned_model_checkpoint": f"ft:x:ckpt-step-{s}", "step_number": s, "metrics": {"full_valid_loss": loss}}
        for s, loss in ((4, 0.0074), (2, 0.0042))
    ]
    m.show({"id": "ftjob-6", "status": "succeeded", "fine_tuned_model": "ft:x"}, events, ckpts)
    assert "ran every planned step" in m.verdict.value and "stopped at" not in m.verdict.value
    assert "lowest at step 4" in m.verdict.value and "from step 4" in m.verdict.value
    marked = [row for row in m.checkpoints.value.split("<tr>") if "keep" in row]
    assert len(marked) == 1 and "ckpt-step-4" in marked[0]


class _Page:
    def __init__(self, data, has_more):
        self.data, self.has_more = data, has_more


class _Event:
    def __init__(self, n, step):
        self.id, self.type = f"ftevent-{n:04d}", "metrics"
        self.data = {"step": step, "total_steps": 300, "train_loss": 2.0 / step, "valid_loss": None}

    def model_dump(self):
        return {"id": self.id, "type": self.type, "data": self.data}


class _Jobs:
    """A backend whose job grows by 150 events between two refreshes, listed newest first in pages of 100."""

    def __init__(self):
        self.events, self.pages_read = [], 0
        self.checkpoints = self

    def grow(self, n):
        start = len(self.events)
        self.events = [_Event(i, i + 1) for i in range(start, start + n)][::-1] + self.events

    def retrieve(self, job_id):
        from openai.types.fine_tuning import FineTuningJob

        return FineTuningJob.model_construct(
            id=job_id, status="running", estimated_finish=int(__import__("time").time()) + 150
        )

    def list_events(self, job_id, limit=20, after=None):
        self.pages_read += 1
        ids = [e.id for e in self.events]
        rest = self.events[ids.index(after) + 1 :] if after else self.events
        return _Page(rest[:limit], len(rest) > limit)

    def list(self, job_id):
        return _Page([], False)


def test_refreshes_read_only_the_new_events_and_show_step_and_time_left():
    jobs = _Jobs()
    client = type("Client", (), {"fine_tuning": type("FT", (), {"jobs": jobs})()})()
    m = JobMonitor(client, "ftjob-7")
    jobs.grow(150)
    m.refresh()
    assert jobs.pages_read == 2 and len(m._events) == 150  # the first refresh reads the whole history once
    jobs.grow(3)
    m.refresh()
    assert jobs.pages_read == 3 and len(m._events) == 153 and m.curve.steps[-1] == 153  # then one page
    assert m.progress_text.value.startswith("step 153 of 300, about") and "min left" in m.progress_text.value
    assert list(m.figure["data"][0]["x"])[-1] == 153  # the chart drawn again with the new points
    shown = m.plot.outputs
    m.refresh()  # nothing new: the chart is left as it is, not drawn again
    assert m.plot.outputs is shown
