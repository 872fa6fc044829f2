"""KeyboardShortcuts: a small focusable strip that sends chosen key presses to Python.

Click it, then press a key: the press reaches ``on_key`` callbacks in the kernel.
It carries ``data-lm-suppress-shortcuts``, so JupyterLab's own single-key notebook
shortcuts (``a``, ``b``, ``1``...) do not fire while it has the focus. With
``autofocus`` (the default) it takes the focus when it appears and again after a
click on a button beside it (not in a text box), so a key meant for the review never
lands on the notebook, where ``1`` would turn a cell into a heading.

    keys = KeyboardShortcuts(["1", "2"], label="click here, then press 1 or 2")
    keys.on_key(lambda key: print("pressed", key))
"""

from __future__ import annotations

from collections.abc import Callable

import anywidget
import traitlets

_ESM = """
function render({ model, el }) {
  const box = document.createElement("div");
  box.tabIndex = 0;
  box.className = "ftw-keys";
  box.setAttribute("data-lm-suppress-shortcuts", "true");
  box.setAttribute("role", "application");
  const paint = () => {
    const focused = document.activeElement === box;
    box.textContent = focused ? model.get("active_label") : model.get("label");
    box.style.cssText = "padding:6px 10px;border-radius:4px;cursor:pointer;user-select:none;" +
      (focused ? "border:2px solid #1565c0;background:#e3f2fd" : "border:2px dashed #9e9e9e");
  };
  box.addEventListener("focus", paint);
  box.addEventListener("blur", paint);
  box.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (!model.get("shortcut_keys").includes(event.key)) return;
    event.preventDefault();
    event.stopPropagation();
    model.send({ key: event.key });
  });
  model.on("change:label", paint);
  paint();
  el.appendChild(box);
  if (model.get("autofocus")) {
    const focus = () => box.focus({ preventScroll: true });
    setTimeout(() => {
      focus();
      const scope = el.closest(".jp-OutputArea-output") || el.parentElement;
      if (scope) scope.addEventListener("click", (event) => {
        if (event.target === box || event.target.closest("input, textarea, select, [contenteditable]")) return;
        setTimeout(focus, 0);  // after the button's own handling: keys keep going to the review
      });
    }, 0);
  }
}
export default { render };
"""


class KeyboardShortcuts(anywidget.AnyWidget):
    _esm = _ESM
    shortcut_keys = traitlets.List(traitlets.Unicode()).tag(sync=True)
    label = traitlets.Unicode("Click here to use the keyboard").tag(sync=True)
    active_label = traitlets.Unicode("Keyboard on").tag(sync=True)
    autofocus = traitlets.Bool(True).tag(sync=True)

    def __init__(self, keys, *, label: str | None = None, active_label: str | None = None, **kwargs):
        super().__init__(shortcut_keys=list(keys), **kwargs)
        if label is not None:
            self.label = label
        if active_label is not None:
            self.active_label = active_label
        self._callbacks: list[Callable[[str], None]] = []
        self.on_msg(self._on_message)

    def on_key(self, callback: Callable[[str], None]) -> None:
        self._callbacks.append(callback)

    def press(self, key: str) -> None:
        """What a key press in the browser does (for tests and scripted use)."""
        self._on_message(self, {"key": key}, [])

    def _on_message(self, _widget, content, _buffers) -> None:
        key = content.get("key") if isinstance(content, dict) else None
        if key in self.shortcut_keys:
            for callback in self._callbacks:
                callback(key)
