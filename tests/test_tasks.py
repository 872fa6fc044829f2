"""The sample tasks: each has its data and reports its key metrics; the routing metrics score JSON answers;
the chosen task follows step 1's record, then FTW_TASK."""

import json

import pytest

from ftwidgets import workbook
from ftwidgets.data.dataset import load_jsonl
from ftwidgets.data.validate import validate_file
from ftwidgets.tasks import TASKS, get_task

from .conftest import SAMPLES


@pytest.mark.parametrize("name", [n for n, t in TASKS.items() if t.sample])
def test_each_sample_task_has_valid_data_and_its_key_metrics(name):
    task = TASKS[name]
    report = validate_file(SAMPLES / task.sample)
    assert report.valid and report.usable_examples >= 500 and not report.quality["fact_verdict"]["looks_like_facts"]
    assert set(task.key_metrics) <= {m.name for m in task.metrics()}
    reference = load_jsonl(SAMPLES / task.sample)[0]["messages"][-1]["content"]
    assert all(
        m.score(reference, reference, {}) == 1.0 for m in task.review_metrics()
    )  # the reference passes its own checks


def test_routing_metrics_score_the_labels_not_the_wording():
    metrics = {m.name: m for m in get_task("support_routing").metrics()}
    reference = json.dumps({"category": "billing", "priority": "urgent"})
    wrapped = 'Here you go: {"priority": "URGENT", "category": "billing"}'
    assert metrics["label accuracy"].score(wrapped, reference, {}) == 1.0
    assert metrics["valid JSON"].score(wrapped, reference, {}) == 0.0  # not JSON only, as the system prompt asks
    wrong = json.dumps({"category": "billing", "priority": "low"})
    assert (
        metrics["label accuracy"].score(wrong, reference, {}) == 0.0
        and metrics["category accuracy"].score(wrong, reference, {}) == 1.0
    )
    assert metrics["label accuracy"].score("billing, urgent", reference, {}) == 0.0


def test_the_chosen_task_follows_step_one_then_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("FTW_WORK_DIR", str(tmp_path / "work"))
    monkeypatch.delenv("FTW_TASK", raising=False)
    assert workbook.task().name == "math_tutor" and workbook.prepared_dataset().name == "math_tutor.jsonl"
    monkeypatch.setenv("FTW_TASK", "support_routing")
    assert workbook.task().name == "support_routing" and workbook.prepared_dataset().name == "support_routing.jsonl"
    workbook.write_manifest("01_prepare", task="math_tutor")
    assert workbook.task().name == "math_tutor"
    with pytest.raises(ValueError, match="support_routing"):
        get_task("poetry")
