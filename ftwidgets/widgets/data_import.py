"""Bring your own data into notebook 01: upload a file or name one on disk, map a table's columns, preview.

A thin view over `ftwidgets.data.importers`: the schema is guessed there, every record is converted
or reported there; this widget saves the upload (never over an existing file), offers the
column choice a table needs, and shows the first converted examples and what was reported.
A table whose column names do not say which holds the user's message and which the answer is
not converted until the learner has chosen: nothing is guessed from position.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ipywidgets as w

from ..data.dataset import DataError, Example, guess_columns
from ..data.importers import Conversion, convert_file, detect_schema, table_columns
from ..data.origins import Origins
from ..data.readers import READERS
from ._html import badge, esc, table
from .snapshot import Snapshotted

MAX_UPLOAD_BYTES = 50 * 2**20  # a browser upload travels through the kernel's messages: bigger files go by path
NONE = "(none)"


def _free_path(folder: Path, name: str) -> Path:
    """`folder/name`, or `name` with a number added when that file exists: an upload never replaces a file."""
    target = folder / Path(name).name
    n = 1
    while target.exists():
        target = folder / f"{Path(name).stem}-{n}{Path(name).suffix}"
        n += 1
    return target


class DataImport(Snapshotted, w.VBox):
    def __init__(self, folder: str | Path, *, max_bytes: int = MAX_UPLOAD_BYTES, preview: int = 3):
        self.folder, self.max_bytes, self.preview_rows = Path(folder), max_bytes, preview
        self.source: Path | None = None
        self.schema: str | None = None
        self.conversion: Conversion | None = None
        label = {"style": {"description_width": "8em"}}
        self.upload = w.FileUpload(accept=",".join(READERS), multiple=False, description="Upload a file")
        self.path = w.Text(
            placeholder="or the full path of a file on this machine",
            description="Path",
            layout=w.Layout(width="32em"),
            **label,
        )
        self.use_path = w.Button(description="Use this file")
        self.user = w.Dropdown(description="User column", **label)
        self.assistant = w.Dropdown(description="Answer column", **label)
        self.system = w.Dropdown(description="System column", **label)
        self.default_system = w.Text(
            placeholder="optional: one system prompt for every example without its own",
            description="System prompt",
            layout=w.Layout(width="40em"),
            **label,
        )
        self.convert = w.Button(description="Convert", button_style="primary")
        self.columns = w.VBox(
            [w.HTML("<b>Which column holds what?</b>"), self.user, self.assistant, self.system],
            layout=w.Layout(display="none"),
        )
        self.message = w.HTML()
        self.preview = w.HTML()
        self.upload.observe(lambda _: self._uploaded(), names="value")
        self.use_path.on_click(lambda _: self.load(self.path.value.strip()))
        self.convert.on_click(lambda _: self._convert())
        for box in (self.user, self.assistant):
            box.observe(lambda _: self._ready(), names="value")
        super().__init__(
            [
                self.upload,
                w.HBox([self.path, self.use_path]),
                self.columns,
                self.default_system,
                self.convert,
                self.message,
                self.preview,
            ]
        )
        self._ready()

    @property
    def examples(self) -> list[Example]:
        """The converted examples (empty until a file has been converted)."""
        return self.conversion.examples if self.conversion else []

    @property
    def origins(self) -> Origins | None:
        """Where each converted example stands in the learner's file (None until a file has been converted)."""
        return self.conversion.origins(self.source.name) if self.conversion and self.source else None

    def load(self, path: str | Path) -> None:
        """Read a file: guess its schema, offer the column choice for a table, convert what can be converted."""
        self.conversion, self.preview.value = None, ""
        try:
            path = Path(path).expanduser()
            if not path.is_file():
                raise DataError(f"{path}: no such file")
            self.source, self.schema = path, detect_schema(path)
        except DataError as exc:
            self.message.value = badge("error", str(exc))
            return
        finally:
            self._ready()
        if self.schema == "columns":
            if not self._offer_columns(path):
                return
        else:
            self.columns.layout.display = "none"
        self._convert()

    def _uploaded(self) -> None:
        files = list(self.upload.value)
        if not files:
            return
        file = files[0]
        if file["size"] > self.max_bytes:
            self.message.value = badge(
                "error",
                f"{file['name']} is {file['size'] / 2**20:.0f} MB, over the "
                f"{self.max_bytes / 2**20:.0f} MB limit for uploads: put the file beside the "
                "notebooks and type its path instead.",
            )
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        target = _free_path(self.folder, file["name"])
        target.write_bytes(bytes(file["content"]))
        self.load(target)

    def _offer_columns(self, path: Path) -> bool:
        """Offer the column choice; True when the column names say which is which (convert at once), False when
        the learner must choose first (nothing is converted until Convert is pressed)."""
        try:
            columns = list(table_columns(path))
        except DataError as exc:
            self.message.value = badge("error", str(exc))
            return False
        guess = guess_columns(columns)
        for box, role in ((self.user, "user"), (self.assistant, "assistant")):
            box.options = columns
            box.value = guess[role]  # None: nothing chosen yet
        self.system.options = [NONE, *columns]
        self.system.value = guess["system"] or NONE
        self.columns.layout.display = ""
        if guess["user"] is None:
            self.message.value = badge(
                "warning",
                f"{path.name}: no column name says which holds the user's message "
                "and which the answer. Choose them above, then press Convert.",
            )
            self._ready()
            return False
        return True

    def _ready(self) -> None:
        """Convert is pressable once there is a file and, for a table, two different text columns are chosen."""
        chosen = self.schema != "columns" or (
            self.user.value is not None and self.assistant.value is not None and self.user.value != self.assistant.value
        )
        self.convert.disabled = self.source is None or not chosen
        self.convert.tooltip = (
            ""
            if not self.convert.disabled
            else (
                "choose a file first"
                if self.source is None
                else "choose two different columns for the message and the answer"
            )
        )

    def _mapping(self) -> dict[str, Any]:
        if self.schema != "columns":
            return {}
        return {
            "user": self.user.value,
            "assistant": self.assistant.value,
            "system": None if self.system.value == NONE else self.system.value,
        }

    def _convert(self) -> None:
        self._ready()
        if self.convert.disabled:
            return
        try:
            self.conversion = convert_file(
                self.source, self.schema, default_system=self.default_system.value.strip() or None, **self._mapping()
            )
        except DataError as exc:
            self.message.value = badge("error", str(exc))
            return
        conversion = self.conversion
        level = (
            "ok" if conversion.examples and not conversion.rejected else "warning" if conversion.examples else "error"
        )
        said = conversion.summary(show=10).splitlines()
        self.message.value = badge(level, said[0]) + "".join(f"<div>{esc(line.strip())}</div>" for line in said[1:])
        rows = [
            [
                next((m["content"] for m in ex["messages"] if m["role"] == role), "")
                for role in ("system", "user", "assistant")
            ]
            for ex in conversion.examples[: self.preview_rows]
        ]
        self.preview.value = table(["system", "user", "assistant"], rows, text_columns=(1, 2)) if rows else ""
