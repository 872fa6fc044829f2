"""DownloadButton: a file from the kernel's disk to the learner's, wherever JupyterLab's root is.

A link to a file (`FileLink`) works only when the file lies under the folder JupyterLab serves: started
from ``notebooks/``, a link to ``../data/work/...`` answers 404. This button asks the kernel for the file when
it is pressed: the kernel makes it (the callable given, so a zip is never older than the click), sends its
bytes in one message, and the browser saves them. Nothing is kept in the widget's state, so the notebook
never stores the file.

    DownloadButton(workbook.archive_work, label="Download my work")
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anywidget
import traitlets

MAX_BYTES = 200 * 2**20  # one kernel message; a bigger file is named by its path instead

_ESM = """
function render({ model, el }) {
  const button = document.createElement("button");
  button.className = "jupyter-widgets jupyter-button widget-button mod-primary ftw-download";
  button.style.width = "auto";
  const status = document.createElement("div");
  status.className = "ftw-download-status";
  status.style.cssText = "margin:4px 0;color:#555";
  const paint = () => {
    button.textContent = model.get("label");
    status.textContent = model.get("status");
  };
  button.addEventListener("click", () => {
    button.disabled = true;
    status.textContent = "Preparing the file...";
    model.send({ ask: true });
  });
  model.on("msg:custom", (msg, buffers) => {
    button.disabled = false;
    if (!msg.file || !buffers || !buffers.length) return;
    const url = URL.createObjectURL(new Blob(buffers, { type: msg.type || "application/octet-stream" }));
    const link = document.createElement("a");
    link.href = url;
    link.download = msg.file;
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  });
  model.on("change:label", paint);
  model.on("change:status", paint);
  paint();
  el.append(button, status);
}
export default { render };
"""


class DownloadButton(anywidget.AnyWidget):
    _esm = _ESM
    label = traitlets.Unicode("Download").tag(sync=True)
    status = traitlets.Unicode("").tag(sync=True)

    def __init__(self, make: Callable[[], Any] | Path | str, *, label: str = "Download", **kwargs):
        """`make` is the file, or a callable that makes it and returns its path (or its path and a note)."""
        super().__init__(label=label, **kwargs)
        self._make = make if callable(make) else (lambda: Path(make))
        self.on_msg(self._on_message)

    def prepare(self) -> tuple[Path, bytes | None]:
        """Make the file and read it, as a press does; the bytes are None (and `status` says why) when it cannot go."""
        try:
            made = self._make()
        except Exception as exc:  # noqa: BLE001 - shown to the person who pressed, never a traceback in a log
            self.status = f"Could not make the file: {exc}"
            return Path(), None
        path, note = made if isinstance(made, tuple) else (made, "")
        path = Path(path)
        size = path.stat().st_size
        if size > MAX_BYTES:
            self.status = (
                f"{path.name} is {size / 2**20:,.0f} MB, too big to send through the notebook: it is at {path}"
            )
            return path, None
        self.status = f"{path.name} ({size / 2**20:,.1f} MB) made at {time.strftime('%H:%M:%S')}." + (
            f" {note}" if note else ""
        )
        return path, path.read_bytes()

    def _on_message(self, _widget, content, _buffers) -> None:
        if isinstance(content, dict) and content.get("ask"):
            path, data = self.prepare()
            if data is None:
                self.send({"file": None})
            else:
                self.send({"file": path.name, "type": "application/zip" if path.suffix == ".zip" else None}, [data])
