"""Benchmark the trainer's memory budget: peak memory and speed per ``max_batch_tokens``, in one session.

Runs the real trainer process (``python -m ftwidgets.engine.trainer``) on the workbook's
QUICK job (100 math-tutor examples, 16 validation examples, batch 4, three epochs) once per
budget, repeats interleaved so machine noise hits every budget alike, and samples the
process's proportional set size every 50 ms. Ratios are against the unlimited budget
(whole batches) run in the same session. This is the figure behind
``recipe.TIGHT_MEMORY_BATCH_TOKENS``, the budget the engine picks under a container
memory limit (Binder's 2 GB).

    python benchmarks/trainer_memory.py [--budgets 0 128 256] [--repeats 2] [--examples 100] [--epochs 3]
    python benchmarks/trainer_memory.py --budgets 128 --allocators lean default   # the engine's malloc settings or not
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ftwidgets.data.dataset import load_jsonl, write_jsonl  # noqa: E402
from ftwidgets.engine.contract import JobFolder, TrainerSpec  # noqa: E402
from ftwidgets.engine.lora import lora_for  # noqa: E402
from ftwidgets.engine.recipe import BASE_LEARNING_RATE, MAX_SEQ_LEN  # noqa: E402
from ftwidgets.engine.settings import EngineSettings  # noqa: E402
from ftwidgets.runtime.machine import lean_allocator_env  # noqa: E402


def run_trainer(
    job_dir: Path, train: Path, valid: Path, budget: int | None, epochs: int, allocator: str = "lean", **options
) -> tuple[int, float]:
    """One trainer process on the job; returns (peak PSS in bytes, trained tokens per second)."""
    job_dir.mkdir(parents=True)
    folder = JobFolder(job_dir)
    folder.write_spec(
        TrainerSpec(
            job_id="ftjob-bench",
            base_model="smollm2-135m-instruct",
            training_path=str(train),
            validation_path=str(valid),
            n_epochs=epochs,
            batch_size=4,
            learning_rate=BASE_LEARNING_RATE,
            seed=42,
            max_seq_len=MAX_SEQ_LEN,
            max_batch_tokens=budget,
            lora=lora_for(epochs),
            fine_tuned_model="ft:bench",
            **options,
        )
    )
    base = (
        lean_allocator_env()
        if allocator == "lean"
        else {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    )
    env = {**base, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ftwidgets.engine.trainer", str(job_dir)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    watched, peak = psutil.Process(proc.pid), 0
    while proc.poll() is None:
        try:
            peak = max(peak, watched.memory_full_info().pss)
        except psutil.Error:
            pass
        time.sleep(0.05)
    outcome = folder.read_outcome()
    assert outcome is not None and outcome.status == "succeeded", outcome
    return peak, outcome.tokens_per_second


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--budgets", type=int, nargs="+", default=[0, 128, 256], help="0 = unlimited; the first is the baseline"
    )
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--full-logits", action="store_true", help="the output layer at every position (the old way)")
    ap.add_argument("--examples", type=int, default=100)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument(
        "--weights",
        nargs="+",
        default=["auto"],
        choices=["auto", "float32"],
        help="auto: the frozen weights in bfloat16 on a CPU with hardware bfloat16 (the default); float32: always",
    )
    ap.add_argument(
        "--allocators",
        nargs="+",
        default=["lean"],
        choices=["lean", "default"],
        help="lean: the engine's two malloc arenas and early trim (machine.lean_allocator_env); default: glibc's",
    )
    args = ap.parse_args()
    budgets = list(dict.fromkeys(args.budgets))  # the first is the baseline of the ratios
    tmp = Path(tempfile.mkdtemp())
    math_tutor = load_jsonl(ROOT / "data" / "samples" / "math_tutor.jsonl")
    train, valid = tmp / "train.jsonl", tmp / "valid.jsonl"
    write_jsonl(train, math_tutor[: args.examples])
    write_jsonl(valid, math_tutor[1000:1016])
    keys = [(b, a, w) for b in budgets for a in args.allocators for w in args.weights]
    runs: dict[tuple[int, str, str], list[tuple[int, float]]] = {k: [] for k in keys}
    for r in range(args.repeats):
        for b, a, w in keys:
            runs[b, a, w].append(
                run_trainer(
                    tmp / f"job-{r}-{b}-{a}-{w}",
                    train,
                    valid,
                    b or None,
                    args.epochs,
                    a,
                    labelled_logits=not args.full_logits,
                    cpu_bf16=w == "auto",
                    length_buckets=EngineSettings.length_buckets,
                )
            )
            print(
                f"repeat {r + 1}, budget {b or 'unlimited'}, {a} allocator, {w} weights: peak "
                f"{runs[b, a, w][-1][0] / 2**20:.0f} MB, {runs[b, a, w][-1][1]} tokens/s",
                flush=True,
            )
    base_peak = statistics.median(p for p, _ in runs[keys[0]])
    base_speed = statistics.median(s for _, s in runs[keys[0]])
    print(
        f"\n| max_batch_tokens | allocator | frozen weights | peak PSS (median of {args.repeats}) "
        "| ratio | tokens/s | ratio |"
    )
    print("|---|---|---|---|---|---|---|")
    for b, a, w in keys:
        peak, speed = statistics.median(p for p, _ in runs[b, a, w]), statistics.median(s for _, s in runs[b, a, w])
        print(
            f"| {b or 'unlimited'} | {a} | {w} | {peak / 2**30:.2f} GB | {peak / base_peak:.2f} | {speed:.1f} | "
            f"{speed / base_speed:.2f} |"
        )


if __name__ == "__main__":
    main()
