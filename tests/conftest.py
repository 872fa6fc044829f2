"""Shared fixtures: sample paths, test data from elsewhere (tests/data), an offline tiktoken cache."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import pytest

# nothing in the tests may reach a model hub: everything is on disk
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "data" / "samples"
TEST_DATA = ROOT / "tests" / "data"  # files someone else wrote, with their source and licence


def _environment_dirs() -> tuple[Path, ...]:
    """Where the interpreter, its packages, temporary files and named caches live: never the project's inputs.

    A folder that holds the repository's own folder (``/tmp`` for a clone in ``/tmp/x/repo``)
    is not one of them, or nothing beside the repository would be checked; only where the
    repository sits directly in it (``/tmp/repo``) do its other entries pass.
    """
    named = [
        os.environ.get(v) for v in ("FTW_MODEL_CACHE", "FTW_ENGINE_DIR", "FTW_WORK_DIR", "HF_HOME", "XDG_CACHE_HOME")
    ]
    dirs = [
        Path(os.path.abspath(d))
        for d in (sys.prefix, sys.base_prefix, sys.exec_prefix, tempfile.gettempdir(), *filter(None, named))
    ]
    return tuple(d for d in dirs if d == ROOT.parent or not ROOT.parent.is_relative_to(d))


def outside_the_tree(path) -> bool:
    """True for a path beside the repository (``../shared``): there in a developer's checkout, not in a clone.

    Hidden folders beside it (``~/.cache`` when the repository sits in a home folder), the
    interpreter and temporary files are the machine's, not the project's inputs, and pass.
    """
    if ROOT.parent == Path(ROOT.anchor):
        return False  # a repository at the top of the file system has no folder of its own around it
    try:
        full = Path(os.path.abspath(os.fsdecode(path)))
        rel = full.relative_to(ROOT.parent)
    except (TypeError, ValueError):
        return False  # a file descriptor, or a path elsewhere on the machine (site-packages, /etc)
    if not rel.parts or rel.parts[0] == ROOT.name or rel.parts[0].startswith("."):
        return False
    return not any(full.is_relative_to(d) for d in _environment_dirs())


def _refuse_reads_beside_the_repository(event: str, args: tuple) -> None:
    """Audit hook: any read beside the repository fails the test that made it, with the path."""
    if event in ("open", "os.listdir", "os.scandir") and args and outside_the_tree(args[0]):
        raise PermissionError(f"the project must never read outside its own tree: {args[0]}")


sys.addaudithook(_refuse_reads_beside_the_repository)


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


def chat(
    user: str = "Solve 2 + 3 and explain.",
    answer: str = "Step 1: Add.\nAnswer: 5",
    system: str | None = "You are a math tutor.",
) -> dict:
    msgs = [{"role": "system", "content": system}] if system else []
    msgs += [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]
    return {"messages": msgs}
