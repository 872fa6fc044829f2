"""Step 4's search shown job by job (job k of n, each with its own monitor), and a winner at the edge of the
searched range said plainly; the search itself on a real engine with a tiny base model (seconds)."""

import json

import openai

from ftwidgets.engine import models, start
from ftwidgets.training import GridResult, grid_search, search_edge
from ftwidgets.widgets import JobMonitor, SearchProgress

from ..conftest import SAMPLES
from ..engine.conftest import tiny_llama  # noqa: F401  (a base model that trains in seconds)


def result(rate: float, loss: float) -> GridResult:
    return GridResult({"learning_rate_multiplier": rate, "n_epochs": 1}, f"job-{rate}", "succeeded", "m", [1], [loss])


def test_a_winner_at_the_edge_of_the_range_is_said_plainly():
    inside = [result(0.5, 1.0), result(1.0, 0.8), result(2.0, 0.9)]
    assert search_edge(inside, inside[1]) is None
    top = [result(0.5, 1.0), result(1.0, 0.9), result(2.0, 0.7)]
    said = search_edge(top, top[2])
    assert "highest learning rate searched" in said and "low learning rate" in said
    assert "lowest learning rate searched" in search_edge(top, top[0])


def test_the_search_shows_each_job_as_it_trains(tmp_path, tiny_llama):  # noqa: F811
    handle = start(
        tmp_path / "engine", api_key="k", threads=1, base_models=(models.DEFAULT_BASE_MODEL, str(tiny_llama))
    )
    try:
        client = openai.OpenAI(base_url=handle.base_url, api_key="k", max_retries=0, _strict_response_validation=True)
        lines = (SAMPLES / "math_tutor.jsonl").read_text().splitlines()
        train, valid = tmp_path / "t.jsonl", tmp_path / "v.jsonl"
        train.write_text("\n".join(lines[:24]) + "\n")
        valid.write_text("\n".join(lines[24:30]) + "\n")
        view = SearchProgress(client, 2)
        seen = []

        def on_job(k, n, job_id, hyperparameters):
            seen.append((k, n, job_id, hyperparameters["learning_rate_multiplier"]))
            view.start(k, n, job_id, hyperparameters)

        grid = [{"n_epochs": 1, "learning_rate_multiplier": m} for m in (0.5, 1.0)]
        base = {"model": str(tiny_llama), "seed": 1, "metadata": {"allow_small_dataset": "true"}}
        results = grid_search(client, train, valid, grid, base=base, state_dir=tmp_path, on_job=on_job)
        assert [(k, n, rate) for k, n, _, rate in seen] == [(1, 2, 0.5), (2, 2, 1.0)]
        assert "job 2 of 2" in view.heading.value and isinstance(view.monitor, JobMonitor)
        assert view.monitor.job_id == seen[1][2] and view.monitor.wait() == "succeeded"
        best = min(results, key=lambda r: r.final_valid_loss)
        view.finish(results, best)
        assert (
            "all 2 jobs done" in view.heading.value
            and f"x{best.settings['learning_rate_multiplier']}" in view.heading.value
        )
        assert json.loads((tmp_path / "grid-1.json").read_text())["job_id"] == seen[1][2]
    finally:
        handle.stop()
