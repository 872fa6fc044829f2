"""A backend's refusal at job creation, read plainly: OpenAI's 403 training_not_available names what to use
instead, other 4xx keep the backend's words; no job is recorded, and the panel shows it instead of a traceback.
Driven through the official client over a mock transport (no network)."""

import httpx2
import openai
import pytest

from ftwidgets.data.dataset import load_jsonl, write_jsonl
from ftwidgets.training import LaunchRefused, launch_or_attach
from ftwidgets.widgets import HyperparameterPanel

from .conftest import SAMPLES

FILE = {
    "id": "file-abc123",
    "object": "file",
    "bytes": 10,
    "created_at": 0,
    "filename": "train.jsonl",
    "purpose": "fine-tune",
    "status": "processed",
}


def refusing(status: int, error: dict) -> openai.OpenAI:
    def handler(request):
        if request.url.path.endswith("/files"):
            return httpx2.Response(200, json=FILE)
        return httpx2.Response(status, json={"error": {"type": "invalid_request_error", "param": None, **error}})

    return openai.OpenAI(
        api_key="sk-test",
        base_url="https://api.example.test/v1",
        max_retries=0,
        http_client=httpx2.Client(transport=httpx2.MockTransport(handler)),
    )


@pytest.fixture
def train_file(tmp_path):
    path = tmp_path / "train.jsonl"
    write_jsonl(path, load_jsonl(SAMPLES / "math_tutor.jsonl")[:120])
    return path


SETTINGS = {"model": "gpt-4o-mini-2024-07-18", "seed": 1}


def test_training_not_available_names_the_backends_that_train(train_file, tmp_path):
    client = refusing(
        403, {"code": "training_not_available", "message": "Fine-tuning is not available for your organization."}
    )
    with pytest.raises(LaunchRefused) as refusal:
        launch_or_attach(client, train_file, None, SETTINGS, tmp_path / "job.json")
    said = str(refusal.value)
    assert said.startswith("The backend does not offer fine-tuning to your organisation (403 training_not_available)")
    assert "FTW_BACKEND=engine" in said and "FTW_BACKEND=azure" in said
    assert not (tmp_path / "job.json").exists()  # nothing recorded to re-attach to


def test_another_refusal_keeps_the_backends_words(train_file, tmp_path):
    client = refusing(
        400,
        {"code": "invalid_n_epochs", "param": "hyperparameters.n_epochs", "message": "n_epochs must be at most 50."},
    )
    with pytest.raises(
        LaunchRefused,
        match=r"refused the job \(400 invalid_n_epochs\) \(parameter "
        r"hyperparameters.n_epochs\): n_epochs must be at most 50.",
    ):
        launch_or_attach(client, train_file, None, SETTINGS, tmp_path / "job.json")


def test_the_panel_shows_the_refusal_instead_of_a_traceback(train_file, tmp_path):
    client = refusing(403, {"code": "training_not_available", "message": "Not for your organization."})
    panel = HyperparameterPanel(120, base_models=("gpt-4o-mini-2024-07-18",))
    panel.on_launch(lambda settings: launch_or_attach(client, train_file, None, settings, tmp_path / "job.json"))
    panel.launch.click()
    assert "does not offer fine-tuning to your organisation" in panel.launch_message.value
