"""Upload limit, and `ftwidgets.client()` choosing a backend."""

import io

import openai
import pytest

import ftwidgets
from ftwidgets.engine import start


def test_upload_over_the_limit_is_413_and_leaves_nothing(tmp_path):
    handle = start(tmp_path / "small", api_key="k", max_upload_bytes=1000)
    try:
        client = handle.client(max_retries=0)
        buf = io.BytesIO(b"x" * 5000)
        buf.name = "big.jsonl"
        with pytest.raises(openai.APIStatusError) as e:
            client.files.create(file=buf, purpose="fine-tune")
        assert e.value.status_code == 413 and e.value.code == "file_too_large"
        huge = io.BytesIO(b"x" * 200_000)  # refused from its Content-Length, before the body is read
        huge.name = "huge.jsonl"
        with pytest.raises(openai.APIStatusError) as e:
            client.files.create(file=huge, purpose="fine-tune")
        assert e.value.status_code == 413
        assert client.files.list().data == []
        assert not [p for p in (tmp_path / "small" / "files").iterdir()]
    finally:
        handle.stop()


def test_client_backends(tmp_path, monkeypatch):
    monkeypatch.setenv("FTW_ENGINE_DIR", str(tmp_path / "default-engine"))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    engine_client = ftwidgets.client()
    assert "smollm2-135m-instruct" in [m.id for m in engine_client.models.list()]
    assert ftwidgets.client().base_url == engine_client.base_url  # one engine per data folder
    with pytest.raises(ValueError, match="OPENAI_API_KEY"):
        ftwidgets.client("openai")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert str(ftwidgets.client("openai").base_url).startswith("https://api.openai.com")
    monkeypatch.delenv("FTW_BASE_URL", raising=False)
    with pytest.raises(ValueError, match="base_url"):
        ftwidgets.client("compatible")
    monkeypatch.setenv("FTW_BASE_URL", engine_client.base_url.__str__())
    monkeypatch.setenv("FTW_API_KEY", engine_client.api_key)
    via_env = ftwidgets.client("compatible")  # the engine, reached as any compatible server would be
    assert "smollm2-135m-instruct" in [m.id for m in via_env.models.list()]
    other = ftwidgets.client("compatible", base_url="http://127.0.0.1:9/v1")
    assert str(other.base_url) == "http://127.0.0.1:9/v1/"
    with pytest.raises(ValueError, match="unknown backend"):
        ftwidgets.client("nope")
    with pytest.raises(ValueError, match="OPENAI_API_VERSION"):
        ftwidgets.client("azure", base_url="https://mine.openai.azure.com", api_key="k")
    from ftwidgets.engine import stop_process
    from ftwidgets.engine.server import _alive, engine_pid

    pid = engine_pid(tmp_path / "default-engine")
    assert stop_process(tmp_path / "default-engine") and not _alive(pid)  # ended, though this process is its parent


def test_azure_openai_is_built_from_its_standard_environment(monkeypatch):
    """The hosted path after OpenAI's cutoff: the same notebooks on Azure OpenAI, configured by environment."""
    from openai import AzureOpenAI

    for name in ("AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_API_KEY", "OPENAI_API_VERSION"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValueError, match="AZURE_OPENAI_ENDPOINT, AZURE_OPENAI_API_KEY, OPENAI_API_VERSION"):
        ftwidgets.client("azure")
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://mine.openai.azure.com")
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "azure-key")
    monkeypatch.setenv("OPENAI_API_VERSION", "2025-04-01-preview")
    azure = ftwidgets.client("azure", max_retries=5)
    assert isinstance(azure, AzureOpenAI) and azure.api_key == "azure-key" and azure.max_retries == 5
    assert str(azure.base_url) == "https://mine.openai.azure.com/openai/"
    assert azure._custom_query.get("api-version") == "2025-04-01-preview"  # sent with every request
