"""The work folder: a learner's whole work in one zip to download before a Binder session ends."""

import zipfile

from ftwidgets import workbook


def test_archive_work_holds_every_step_and_never_itself(tmp_path, monkeypatch):
    monkeypatch.setenv("FTW_WORK_DIR", str(tmp_path / "work"))
    (workbook.work_dir("01_prepare") / "dataset.jsonl").write_text('{"messages": []}\n')
    workbook.write_manifest("06_review", decisions=3)
    first = workbook.archive_work()
    second = workbook.archive_work()  # again: replaces the zip, never packs the old one into the new
    assert first == second == tmp_path / "work" / "downloads" / "my_work.zip"
    with zipfile.ZipFile(second) as archive:
        assert sorted(archive.namelist()) == ["01_prepare/dataset.jsonl", "06_review/manifest.json"]
        assert archive.read("01_prepare/dataset.jsonl") == b'{"messages": []}\n'


def test_a_slow_machine_is_told_it_was_slow_not_broken():
    """papermill's cell timeout ends its message with a row of dashes: the summary names the step and the way out."""
    import importlib.util

    import nbformat
    from nbclient.exceptions import CellTimeoutError

    spec = importlib.util.spec_from_file_location("run_workbook", workbook.ROOT / "scripts" / "run_workbook.py")
    runner = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(runner)
    cell = nbformat.v4.new_code_cell("status = monitor.wait(every=2)")
    timeout = CellTimeoutError.error_from_timeout_and_cell("Cell execution timed out", 900, cell)
    said = runner.failure_line("04_train", timeout, 900)
    assert "04_train" in said and "900 s" in said and "--cell-timeout 0" in said and "---" not in said
    assert runner.last_line(timeout) == "status = monitor.wait(every=2)"  # the cell's last line, not the dashes
    assert runner.failure_line("05_evaluate", ValueError("no model\n-----"), 900) == "ValueError: no model"
