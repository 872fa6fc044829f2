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
