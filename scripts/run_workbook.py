"""Run the workbook's notebooks headless (the six steps, then the preference-tuning round), in order, on the
embedded engine, and say how it went.

Writes the executed notebooks, the per-step work folders and ``summary.md`` (timings,
the evaluation verdict, the review summary, peak memory) to the output folder. Peak
memory is the largest total PSS of this process, everything it starts (kernels) and the
engine process with its trainers (`ftwidgets.runtime.memory.PeakMemory`), sampled twice a second.
The engine is stopped at the end.

    python scripts/run_workbook.py --out results            # QUICK: small subsets, about 10 minutes on 2 CPU cores
    python scripts/run_workbook.py --out results --full     # the full-size workbook
    python scripts/run_workbook.py --data my_orders.jsonl   # on your own file, as step 1's upload would take it,
                                                            # measured by the graders step 2 proposes from it
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ftwidgets.engine.server import engine_pid, stop_process  # noqa: E402  (light: no torch in this process)
from ftwidgets.runtime.memory import PeakMemory  # noqa: E402
from ftwidgets.workbook import WORKBOOK_RUN  # noqa: E402  (the one list of the notebooks a run executes)


def _manifest(work: Path, step: str) -> dict:
    path = work / step / "manifest.json"
    return json.loads(path.read_text()) if path.exists() else {}


# The most a cell may take, QUICK and full size: the longest cell waits for notebook 04's main job (QUICK: under
# 5 min; full size: 10-12 min here, 25 min with an earlier float32 trainer). A kernel that stops answering (seen
# three times with ipykernel 7, now pinned below it; docs/troubleshooting.md) then fails the run instead of hanging it.
CELL_TIMEOUT_S = {False: 15 * 60, True: 60 * 60}


def last_line(error: BaseException) -> str:
    """The last line of an error's message, where a notebook's traceback says what went wrong (above the plain
    errors' hint to %tb)."""
    from ftwidgets.runtime.plain_errors import HINT

    lines = [
        line
        for line in str(error).strip().splitlines()
        if line.strip() and line.strip() != HINT and any(c.isalnum() for c in line)  # not a row of dashes
    ]
    return lines[-1] if lines else ""


def failure_line(step: str, error: BaseException, limit_s: float | None) -> str:
    """What the summary says of a failed notebook: a cell that ran out of time is a slow machine, said so, with the
    way to run without the limit; anything else is the error's own last line."""
    from nbclient.exceptions import CellTimeoutError

    if isinstance(error, CellTimeoutError):
        return (
            f"a cell of {step} ran longer than the {limit_s:.0f} s a cell may take here: this machine was slower than "
            "the limit allows, which says nothing against the workbook; run again with --cell-timeout 0 (no limit)"
        )
    return f"{type(error).__name__}: {last_line(error)}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results", help="folder for executed notebooks, work and summary.md")
    parser.add_argument("--full", action="store_true", help="full-size run instead of the QUICK subsets")
    parser.add_argument("--max-memory-gb", type=float, default=None, help="fail when peak memory exceeds this")
    parser.add_argument("--steps", nargs="*", default=WORKBOOK_RUN, help="run only these notebooks")
    parser.add_argument(
        "--cell-timeout",
        type=float,
        default=None,
        help="seconds a cell may take (0: no limit; default 15 min QUICK, 60 min full size)",
    )
    parser.add_argument(
        "--data", default=None, help="your own CSV, JSON or JSONL file, taken as step 1's upload (graders as proposed)"
    )
    args = parser.parse_args(argv)
    if args.data is not None:
        data = Path(args.data).expanduser().resolve()
        if not data.is_file():
            parser.error(f"--data {args.data}: no such file")
        os.environ["FTW_DATA"] = str(data)

    import papermill

    out = Path(args.out).resolve()
    (out / "notebooks").mkdir(parents=True, exist_ok=True)
    os.environ.update(
        {
            "FTW_WORK_DIR": str(out / "work"),
            "FTW_ENGINE_DIR": str(out / "engine"),
            "FTW_QUICK": "0" if args.full else "1",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
        }
    )
    if args.max_memory_gb is not None and args.max_memory_gb < 4:
        # what the engine picks by itself inside a container with such a limit (e.g. Binder's 2 GB):
        # ftwidgets.engine.recipe.TIGHT_MEMORY_BATCH_TOKENS, named so this process need not import the engine
        os.environ.setdefault("FTW_MAX_BATCH_TOKENS", "tight")
    timings, failed = {}, None
    limit_s = CELL_TIMEOUT_S[args.full] if args.cell_timeout is None else args.cell_timeout or None
    with PeakMemory(lambda: [os.getpid(), engine_pid(out / "engine")]) as memory:
        for step in args.steps:
            t0 = time.perf_counter()
            print(f"running {step} ...", flush=True)
            try:
                papermill.execute_notebook(
                    ROOT / "notebooks" / f"{step}.ipynb",
                    out / "notebooks" / f"{step}.ipynb",
                    parameters={"QUICK": not args.full},
                    cwd=str(ROOT / "notebooks"),
                    kernel_name="python3",
                    progress_bar=False,
                    execution_timeout=limit_s,
                )
            except Exception as exc:  # noqa: BLE001 - reported below with the notebook to open
                failed = (step, exc)
            timings[step] = time.perf_counter() - t0
            print(f"  {step}: {timings[step]:.0f} s{' FAILED' if failed else ''}", flush=True)
            if failed:
                break
        stop_process(out / "engine")  # the notebooks' engine would otherwise wait a little for another notebook
    peak_gb = memory.peak / 2**30
    work = out / "work"
    lines = [
        f"# Workbook run ({'full' if args.full else 'QUICK'})",
        "",
        f"- data: {os.environ['FTW_DATA'] if args.data else 'the chosen sample task'}",
        f"- notebooks: {', '.join(timings)} (executed copies in `{out / 'notebooks'}`)",
        f"- total time: {sum(timings.values()) / 60:.1f} min; per notebook: "
        + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()),
        f"- peak memory of the whole run (all processes, PSS): {memory.describe()}",
    ]
    trained = _manifest(work, "04_train")
    if trained:
        lines.append(f"- fine-tuned model: `{trained.get('fine_tuned_model')}` from `{trained.get('base_model')}`")
    evaluated = _manifest(work, "05_evaluate")
    if evaluated:
        lines += ["", "## Evaluation (step 5)", "", "```", evaluated.get("verdict", ""), "```"]
        lines += [f"- against prompting with examples: {evaluated['worth_it']}"] if evaluated.get("worth_it") else []
        lines += [f"- {evaluated['forgetting']}"] if evaluated.get("forgetting") else []
    reviewed = _manifest(work, "06_review")
    if reviewed:
        lines += [
            "",
            "## Review (step 6)",
            "",
            f"- {reviewed.get('summary')}",
            f"- reviewers: {', '.join(reviewed.get('reviewers', []))}; preference pairs exported: "
            f"{reviewed.get('preference_pairs')}",
        ]
    preferred = _manifest(work, "08_preference_tuning")
    if preferred:
        lines += [
            "",
            "## Preference tuning (step 8)",
            "",
            f"- {preferred.get('pairs')} preference pairs from {preferred.get('prompts')} prompts outside the test "
            f"split; model `{preferred.get('preference_tuned_model')}`",
            "",
            "```",
            preferred.get("verdict", ""),
            "```",
        ]
    if failed:
        lines += [
            "",
            f"**{failed[0]} failed**: open `{out / 'notebooks' / (failed[0] + '.ipynb')}` to see where.",
            "",
            f"    {failure_line(failed[0], failed[1], limit_s)}",
        ]
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
