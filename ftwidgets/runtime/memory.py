"""How much memory a workbook session really takes: the peak PSS of every process in it.

A session is several process trees: the runner or JupyterLab with its kernels, and the
engine, which runs in a process of its own (detached, so it is no kernel's child). The
sum counts each process's proportional set size (PSS: private pages plus its share of
pages shared with the others, such as torch's libraries in the engine and a trainer),
which adds up to what the processes really occupy, as a container's memory limit sees
it; summing RSS would count every shared library once per process. Needs ``psutil``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable


class PeakMemory:
    """The largest total PSS of some process trees, sampled in a background thread (a context manager).

    `roots` returns the pids whose trees make up the session; it is asked at every sample,
    so a process that starts later (the engine) is counted from then on. The processes at
    the peak, with their PSS, are kept in ``at_peak``. Setting ``phase`` (a notebook's name, say) files
    the samples from then on under it too: ``phase_peaks`` holds each phase's own peak, for a figure with its parts.
    """

    def __init__(self, roots: Callable[[], Iterable[int | None]], every: float = 0.5):
        self.roots, self.every, self.peak = roots, every, 0
        self.at_peak: list[tuple[str, int]] = []
        self.phase: str | None = None
        self.phase_peaks: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> tuple[int, list[tuple[str, int]]]:
        """The total PSS now, and each process's name and PSS."""
        import psutil

        seen, rows = set(), []
        for root in self.roots():
            try:
                tree = [psutil.Process(root)] if root else []
                tree += tree[0].children(recursive=True) if tree else []
            except psutil.Error:
                continue
            for p in tree:
                if p.pid in seen:
                    continue
                seen.add(p.pid)
                try:
                    rows.append((_name(p.cmdline()), p.memory_full_info().pss))
                except psutil.Error:
                    pass
        return sum(r[1] for r in rows), rows

    def _run(self) -> None:
        while not self._stop.is_set():
            total, rows = self.sample()
            if self.phase is not None and total > self.phase_peaks.get(self.phase, 0):
                self.phase_peaks[self.phase] = total
            if total > self.peak:
                self.peak, self.at_peak = total, rows
            self._stop.wait(self.every)

    def describe(self, top: int = 4) -> str:
        """The peak in GB and the largest processes at that moment, for a summary line."""
        parts = ", ".join(
            f"`{name}` {pss / 2**20:.0f} MB" for name, pss in sorted(self.at_peak, key=lambda r: -r[1])[:top]
        )
        return f"{self.peak / 2**30:.2f} GB; at the peak: {parts}"

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def _name(cmdline: list[str]) -> str:
    """A process as a summary names it: its first words (``python -m ftwidgets.engine.trainer``), and for a Jupyter
    kernel the start of its id (``kernel-1a2b3c4d``, from its connection file), which JupyterLab's sessions map to a
    notebook."""
    name = " ".join(cmdline[:3])[-60:]
    connection = next((a for a in cmdline if a.endswith(".json") and "kernel-" in a), None)
    if connection:
        name += " " + connection.rsplit("/", 1)[-1][: len("kernel-") + 8]
    return name
