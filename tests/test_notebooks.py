"""Notebooks are committed without outputs and match their one source, make_notebooks.py."""

import importlib.util
import json
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
ALL = sorted(NOTEBOOKS.glob("*.ipynb"))


@pytest.mark.parametrize("path", ALL, ids=[p.name for p in ALL])
def test_committed_without_outputs(path):
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code)
    assert any("parameters" in c.get("metadata", {}).get("tags", []) for c in code), "no papermill parameters cell"
    assert all(len(c["source"].splitlines() if isinstance(c["source"], str) else c["source"]) <= 12 for c in code), "cells stay thin"


def test_notebooks_match_their_source(tmp_path):
    spec = importlib.util.spec_from_file_location("make_notebooks", NOTEBOOKS / "make_notebooks.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.main(tmp_path)
    for path in ALL:
        assert json.loads((tmp_path / path.name).read_text())["cells"] == json.loads(path.read_text())["cells"], path.name


def test_all_six_steps_exist_in_order():
    from ftwidgets.workbook import STEPS

    assert [p.stem for p in ALL] == STEPS


def test_workbook_root_can_be_named(monkeypatch, tmp_path):
    from ftwidgets.workbook import find_root

    monkeypatch.setenv("FTW_ROOT", str(tmp_path))
    assert find_root() == tmp_path.resolve()
    monkeypatch.delenv("FTW_ROOT")
    assert (find_root() / "data" / "samples" / "math_tutor.jsonl").exists()
