"""Notebooks are committed without outputs and match their one source, make_notebooks.py.

These tests read the notebooks as git holds them (the index: what is committed, or staged
for the next commit), not a learner's working copy: running the workbook in JupyterLab
saves outputs into the files, and that must never make the project's own tests fail.
"""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
ALL = sorted(NOTEBOOKS.glob("*.ipynb"))


def committed(path: Path) -> dict:
    """The notebook as git's index holds it; the file itself outside a git checkout."""
    try:
        text = subprocess.run(
            ["git", "show", f":notebooks/{path.name}"], cwd=NOTEBOOKS, capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        text = path.read_text()
    return json.loads(text)


@pytest.mark.parametrize("path", ALL, ids=[p.name for p in ALL])
def test_committed_without_outputs(path):
    nb = committed(path)
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code)
    assert any("parameters" in c.get("metadata", {}).get("tags", []) for c in code), "no papermill parameters cell"
    assert all(len(c["source"].splitlines() if isinstance(c["source"], str) else c["source"]) <= 12 for c in code), (
        "cells stay thin"
    )


def test_notebooks_match_their_source(tmp_path):
    spec = importlib.util.spec_from_file_location("make_notebooks", NOTEBOOKS / "make_notebooks.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.main(tmp_path)
    for path in ALL:
        assert json.loads((tmp_path / path.name).read_text())["cells"] == committed(path)["cells"], (
            f"{path.name} differs from make_notebooks.py's output: run python notebooks/make_notebooks.py, then git add"
        )


def test_a_learners_saved_outputs_do_not_fail_the_tests(tmp_path):
    """What JupyterLab's autosave does to a working copy: outputs and counts in the file; git still holds it clean."""
    path = ALL[3]
    saved = path.read_bytes()
    nb = json.loads(saved)
    for i, cell in enumerate(c for c in nb["cells"] if c["cell_type"] == "code"):
        cell["execution_count"] = i + 1
        cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "trained\n"}]
    try:
        path.write_text(json.dumps(nb))
        test_committed_without_outputs(path)
        test_notebooks_match_their_source(tmp_path)
    finally:
        path.write_bytes(saved)


def test_all_six_steps_and_the_side_lessons_exist_in_order():
    from ftwidgets.workbook import NOTEBOOKS, STEPS

    assert [p.stem for p in ALL] == NOTEBOOKS and NOTEBOOKS[: len(STEPS)] == STEPS


def test_workbook_root_can_be_named(monkeypatch, tmp_path):
    from ftwidgets.runtime.locations import find_root

    monkeypatch.setenv("FTW_ROOT", str(tmp_path))
    assert find_root() == tmp_path.resolve()
    monkeypatch.delenv("FTW_ROOT")
    assert (find_root() / "data" / "samples" / "math_tutor.jsonl").exists()


def test_a_kernel_without_the_package_is_told_so_in_one_line(tmp_path):
    """Colab before its set-up (or a kernel outside .venv): the first code cell stops with the way out, not with an
    import error deep in a lesson."""
    first = next(c for c in committed(ALL[0])["cells"] if c["cell_type"] == "code")
    source = "".join(first["source"])
    bare = subprocess.run(  # -S -I: no site-packages, so no ftwidgets, as on a fresh Colab runtime
        [sys.executable, "-S", "-I", "-c", source], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert bare.returncode == 1 and "Traceback" not in bare.stderr
    assert bare.stderr.strip().splitlines() == [
        "The workbook's package is not installed for this kernel: see docs/teaching.md, 'Where a notebook can be "
        "opened' (Colab), or run bash scripts/setup.sh"
    ]
