"""Hosted backends after OpenAI's end, with a fixed clock: a warning with the days left, then a refusal that names
the backends still training before anything is uploaded, then the retired models refused too; and Nebius Token
Factory driven by the same launch code as Azure, against an exchange in the shapes its documentation shows (no
network here to record a live one)."""

from __future__ import annotations

import json
import warnings
from datetime import date

import httpx
import openai
import pytest

import ftwidgets
from ftwidgets import backends, base_models
from ftwidgets.base_models import OpenAIEnded, openai_phase, refuse_after_openai_end
from ftwidgets.evaluation.evaluate import evaluate, to_eval_items
from ftwidgets.runtime.plain_errors import plain_message
from ftwidgets.training import launch_or_attach

from .conftest import SAMPLES


def recording(answers: dict[tuple[str, str], dict]):
    """An httpx transport that answers from `answers` by (method, path) and keeps every request."""
    sent: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        key = (request.method, request.url.path)
        if key not in answers:
            return httpx.Response(404, json={"error": {"message": f"no {key}", "type": "invalid_request_error"}})
        return httpx.Response(200, json=answers[key])

    return httpx.Client(transport=httpx.MockTransport(handle)), sent


def test_the_three_phases_of_openais_end():
    assert openai_phase("gpt-4o-mini-2024-07-18", date(2026, 12, 7))[0] == "open"
    assert "in 30 days" in openai_phase(None, date(2026, 12, 7))[1]
    phase, said = openai_phase("gpt-4o-mini-2024-07-18", date(2027, 1, 6))
    assert phase == "ended" and "Azure OpenAI" in said and "Nebius Token Factory" in said and "embedded engine" in said
    assert openai_phase("ft:gpt-4o-mini-2024-07-18:org::abc", date(2027, 1, 14))[0] == "retired"
    assert openai_phase("o4-mini", date(2027, 1, 14))[0] == "ended"  # not of the retired families


def test_openai_warns_once_with_the_days_left(monkeypatch):
    monkeypatch.setattr(backends, "_warned", False)
    monkeypatch.setattr(backends, "openai_phase", lambda *a, **k: openai_phase(*a, today=date(2026, 12, 7)))
    with pytest.warns(FutureWarning, match="in 30 days"):
        ftwidgets.client("openai", api_key="sk-test")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ftwidgets.client("openai", api_key="sk-test")  # once a process


def test_a_new_openai_job_after_the_end_is_refused_before_any_upload(tmp_path, monkeypatch):
    monkeypatch.setattr(backends, "_warned", True)
    http, sent = recording({})
    client = ftwidgets.client("openai", api_key="sk-test", http_client=http)
    with pytest.raises(OpenAIEnded) as refused:
        refuse_after_openai_end(client, "gpt-4o-mini-2024-07-18", jobs=True, today=date(2027, 1, 6))
    assert "nothing was uploaded" in str(refused.value) and plain_message(refused.value) == str(refused.value)
    refuse_after_openai_end(client, "gpt-4o-mini-2024-07-18", jobs=False, today=date(2027, 1, 6))  # still serves
    with pytest.raises(OpenAIEnded, match="retired"):
        refuse_after_openai_end(client, "ft:gpt-4o-mini-2024-07-18:org::x", jobs=False, today=date(2027, 1, 14))
    azure = openai.AzureOpenAI(azure_endpoint="https://mine.openai.azure.com", api_key="k", api_version="2025-04-01")
    refuse_after_openai_end(azure, "gpt-4o-mini-2024-07-18", jobs=True, today=date(2027, 1, 20))  # Azure goes on
    assert sent == []


def test_the_launch_and_the_evaluation_read_the_dates_before_sending(tmp_path, monkeypatch):
    monkeypatch.setattr(backends, "_warned", True)
    real = base_models.openai_phase
    monkeypatch.setattr(base_models, "openai_phase", lambda model=None, today=None: real(model, date(2027, 1, 15)))
    http, sent = recording({})
    client = ftwidgets.client("openai", api_key="sk-test", http_client=http)
    train = tmp_path / "train.jsonl"
    train.write_text((SAMPLES / "math_tutor.jsonl").read_text())
    with pytest.raises(OpenAIEnded, match="stopped new fine-tuning jobs"):
        launch_or_attach(client, train, None, {"model": "o4-mini"}, tmp_path / "job.json")
    items = to_eval_items(json.loads(line) for line in train.read_text().splitlines()[:2])
    with pytest.raises(OpenAIEnded, match="retired"):
        evaluate(client, items, {"fine_tuned": "ft:gpt-4o-mini-2024-07-18:org::x"}, cache_dir=tmp_path)
    assert sent == []  # nothing uploaded, nothing asked


FILE = {
    "id": "file-abc",
    "object": "file",
    "bytes": 120,
    "created_at": 1765000000,
    "filename": "train.jsonl",
    "purpose": "fine-tune",
    "status": "processed",
}
JOB = {
    "id": "ftjob-nb1",
    "object": "fine_tuning.job",
    "created_at": 1765000001,
    "error": None,
    "fine_tuned_model": None,
    "finished_at": None,
    "hyperparameters": {"n_epochs": 3, "batch_size": 8, "learning_rate_multiplier": 1.0},
    "model": "meta-llama/Meta-Llama-3.1-8B-Instruct",
    "organization_id": "org-x",
    "result_files": [],
    "seed": 42,
    "status": "validating_files",
    "trained_tokens": None,
    "training_file": "file-abc",
    "validation_file": "file-abc",
}


def test_nebius_takes_the_same_launch_as_azure(tmp_path, monkeypatch):
    monkeypatch.setenv("NEBIUS_API_KEY", "nb-key")
    http, sent = recording({("POST", "/v1/files"): FILE, ("POST", "/v1/fine_tuning/jobs"): JOB})
    client = ftwidgets.client("nebius", http_client=http)
    assert str(client.base_url) == "https://api.tokenfactory.nebius.com/v1/"
    train = tmp_path / "train.jsonl"
    train.write_text((SAMPLES / "math_tutor.jsonl").read_text())
    settings = {"model": ftwidgets.base_model("nebius"), "seed": 42, "method": {"type": "supervised"}}
    job_id = launch_or_attach(client, train, train, settings, tmp_path / "job.json")
    assert job_id == "ftjob-nb1"
    paths = [(r.method, r.url.host, r.url.path) for r in sent]
    assert paths == [
        ("POST", "api.tokenfactory.nebius.com", "/v1/files"),
        ("POST", "api.tokenfactory.nebius.com", "/v1/files"),
        ("POST", "api.tokenfactory.nebius.com", "/v1/fine_tuning/jobs"),
    ]
    assert all(r.headers["authorization"] == "Bearer nb-key" for r in sent)
    created = json.loads(sent[-1].content)
    assert created["model"] == "meta-llama/Meta-Llama-3.1-8B-Instruct" and created["training_file"] == "file-abc"
    with pytest.raises(ValueError, match="NEBIUS_API_KEY"):
        monkeypatch.delenv("NEBIUS_API_KEY")
        ftwidgets.client("nebius")
