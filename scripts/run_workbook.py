"""Run the six notebooks headless, in order, on the embedded engine, and say how it went.

Writes the executed notebooks, the per-step work folders and ``summary.md`` (timings,
the evaluation verdict, the review summary, peak memory) to the output folder. Peak
memory is the largest total resident memory of this process and everything it starts
(kernels, the engine, trainer processes), sampled twice a second: an upper
bound on what a Binder session needs.

    python scripts/run_workbook.py --out results            # QUICK: small subsets, about 10 minutes on 2 CPU cores
    python scripts/run_workbook.py --out results --full     # the full-size workbook
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ftwidgets.workbook import STEPS  # noqa: E402  (the one list of the six steps)


class PeakMemory:
    """Largest total memory of this process tree, sampled in a background thread.

    Counts each process's proportional set size (PSS: private pages plus its share of
    pages shared with the others, such as torch's libraries loaded by a kernel and a
    trainer), which adds up to what the tree really occupies, as a container's memory
    limit sees it; summing RSS would count every shared library once per process.
    The processes at the peak are kept in ``at_peak``.
    """

    def __init__(self, every: float = 0.5):
        import psutil

        self.me, self.every, self.peak, self._stop = psutil.Process(), every, 0, threading.Event()
        self.at_peak: list[tuple[str, int]] = []
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> tuple[int, list[tuple[str, int]]]:
        import psutil

        rows = []
        for p in [self.me, *self.me.children(recursive=True)]:
            try:
                rows.append((" ".join(p.cmdline()[:3])[-60:], p.memory_full_info().pss))
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                pass
        return sum(r[1] for r in rows), rows

    def _run(self) -> None:
        while not self._stop.is_set():
            total, rows = self._sample()
            if total > self.peak:
                self.peak, self.at_peak = total, rows
            self._stop.wait(self.every)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def _manifest(work: Path, step: str) -> dict:
    path = work / step / "manifest.json"
    return json.loads(path.read_text()) if path.exists() else {}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results", help="folder for executed notebooks, work and summary.md")
    parser.add_argument("--full", action="store_true", help="full-size run instead of the QUICK subsets")
    parser.add_argument("--max-memory-gb", type=float, default=None, help="fail when peak memory exceeds this")
    parser.add_argument("--steps", nargs="*", default=STEPS, help="run only these notebooks")
    args = parser.parse_args(argv)

    import papermill

    out = Path(args.out).resolve()
    (out / "notebooks").mkdir(parents=True, exist_ok=True)
    os.environ.update({"FTW_WORK_DIR": str(out / "work"), "FTW_ENGINE_DIR": str(out / "engine"),
                       "FTW_QUICK": "0" if args.full else "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
    if args.max_memory_gb is not None and args.max_memory_gb < 4:
        # what the engine picks by itself inside a container with such a limit (e.g. Binder's 2 GB):
        # ftwidgets.engine.jobs.TIGHT_MEMORY_BATCH_TOKENS, not imported so this process stays small
        os.environ.setdefault("FTW_MAX_BATCH_TOKENS", "128")
    timings, failed = {}, None
    with PeakMemory() as memory:
        for step in args.steps:
            t0 = time.perf_counter()
            print(f"running {step} ...", flush=True)
            try:
                papermill.execute_notebook(ROOT / "notebooks" / f"{step}.ipynb", out / "notebooks" / f"{step}.ipynb",
                                           parameters={"QUICK": not args.full}, cwd=str(ROOT / "notebooks"),
                                           kernel_name="python3", progress_bar=False)
            except Exception as exc:  # noqa: BLE001 - reported below with the notebook to open
                failed = (step, exc)
            timings[step] = time.perf_counter() - t0
            print(f"  {step}: {timings[step]:.0f} s{' FAILED' if failed else ''}", flush=True)
            if failed:
                break
    peak_gb = memory.peak / 2**30
    work = out / "work"
    lines = [f"# Workbook run ({'full' if args.full else 'QUICK'})", "",
             f"- notebooks: {', '.join(timings)} (executed copies in `{out / 'notebooks'}`)",
             f"- total time: {sum(timings.values()) / 60:.1f} min; per notebook: "
             + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()),
             f"- peak memory of the whole run (all processes, PSS): {peak_gb:.2f} GB; at the peak: "
             + ", ".join(f"`{name}` {pss / 2**20:.0f} MB" for name, pss in sorted(memory.at_peak, key=lambda r: -r[1])[:4])]
    trained = _manifest(work, "04_train")
    if trained:
        lines.append(f"- fine-tuned model: `{trained.get('fine_tuned_model')}` from `{trained.get('base_model')}`")
    evaluated = _manifest(work, "05_evaluate")
    if evaluated:
        lines += ["", "## Evaluation (step 5)", "", "```", evaluated.get("verdict", ""), "```"]
    reviewed = _manifest(work, "06_review")
    if reviewed:
        lines += ["", "## Review (step 6)", "", f"- {reviewed.get('summary')}",
                  f"- reviewers: {', '.join(reviewed.get('reviewers', []))}; preference pairs exported: "
                  f"{reviewed.get('preference_pairs')}"]
    if failed:
        lines += ["", f"**{failed[0]} failed**: open `{out / 'notebooks' / (failed[0] + '.ipynb')}` to see where.",
                  "", f"    {type(failed[1]).__name__}: {str(failed[1]).strip().splitlines()[-1] if str(failed[1]).strip() else ''}"]
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"\nwritten: {out / 'summary.md'}")
    if failed:
        return 1
    if args.max_memory_gb is not None and peak_gb > args.max_memory_gb:
        print(f"peak memory {peak_gb:.2f} GB is over the {args.max_memory_gb} GB limit", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
