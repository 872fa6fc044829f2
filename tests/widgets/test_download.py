"""DownloadButton, driven as the browser drives it: a press asks the kernel, which makes the file then and sends
its bytes in one message; nothing rides in the widget's state, and a failure or too big a file is said."""

import zipfile

from ftwidgets.widgets import DownloadButton
from ftwidgets.widgets import download as download_module


def press(button):
    sent = []
    button.send = lambda content, buffers=None: sent.append((content, buffers))
    button._on_message(button, {"ask": True}, [])
    return sent


def test_a_press_makes_the_file_then_and_sends_its_bytes(tmp_path):
    made = []

    def make():
        path = tmp_path / "my_work.zip"
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("06_review/reviews.csv", f"made {len(made)}")
        made.append(path)
        return path, "Its exports were made from 3 decision(s)."

    button = DownloadButton(make, label="Download my work (zip)")
    assert made == [] and button.status == ""  # nothing is made before the press
    [(content, buffers)] = press(button)
    assert (
        content == {"file": "my_work.zip", "type": "application/zip"}
        and buffers[0] == (tmp_path / "my_work.zip").read_bytes()
    )
    assert "my_work.zip (0.0 MB) made at" in button.status and "3 decision(s)" in button.status
    press(button)
    assert len(made) == 2  # every press remakes it
    assert "data" not in button.get_state() and all(not isinstance(v, bytes) for v in button.get_state().values())


def test_a_failure_and_too_big_a_file_are_said(tmp_path, monkeypatch):
    def broken():
        raise OSError("No space left on device")

    button = DownloadButton(broken)
    assert press(button) == [({"file": None}, None)] and "No space left on device" in button.status
    big = tmp_path / "big.zip"
    big.write_bytes(b"x" * 100)
    monkeypatch.setattr(download_module, "MAX_BYTES", 10)
    button = DownloadButton(big)
    assert (
        press(button) == [({"file": None}, None)]
        and f"too big to send through the notebook: it is at {big}" in button.status
    )
