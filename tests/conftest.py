"""Shared fixtures: sample paths, the shared real-world datasets, an offline tiktoken cache."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

# nothing in the tests may reach a model hub: everything is on disk
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "data" / "samples"
SHARED = ROOT.parent / "shared" / "datasets"


@pytest.fixture(scope="session", autouse=True)
def _offline_tiktoken(tmp_path_factory):
    """Every test counts tokens from a cache seeded by ftwidgets, never from the network."""
    os.environ["TIKTOKEN_CACHE_DIR"] = str(tmp_path_factory.mktemp("tiktoken"))
    yield


def write_lines(path: Path, lines: list) -> Path:
    """Write objects (as JSON) or raw bytes/str lines to a file, one per line."""
    with open(path, "wb") as fh:
        for line in lines:
            if isinstance(line, bytes):
                fh.write(line + b"\n")
            elif isinstance(line, str):
                fh.write(line.encode() + b"\n")
            else:
                fh.write(json.dumps(line).encode() + b"\n")
    return path


def chat(user: str = "Solve 2 + 3 and explain.", answer: str = "Step 1: Add.\nAnswer: 5", system: str | None = "You are a math tutor.") -> dict:
    msgs = [{"role": "system", "content": system}] if system else []
    msgs += [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]
    return {"messages": msgs}
