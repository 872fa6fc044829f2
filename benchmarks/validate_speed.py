"""Benchmark: `ftw validate` (every check) against the cookbook's bare parse-and-count loop.

Prints the time ratio (baseline / ftw, higher is better; >= 1.0 means ftw is at least
as fast while doing far more) and the peak memory of each, on generated files of
10k and 100k examples. Both sides run as fresh processes in the same session,
alternating, and the median of the repeats is reported. Never asserts a time.

    python benchmarks/validate_speed.py [--examples 100000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out"

BASELINE = r"""
import json, sys, resource, tiktoken
from ftwidgets.tokens import seed_offline_encodings
seed_offline_encodings()
enc = tiktoken.get_encoding("o200k_base")
total = 0
n = 0
with open(sys.argv[1], encoding="utf-8") as fh:
    for line in fh:
        ex = json.loads(line)
        n += 1
        total += 3
        for message in ex["messages"]:
            total += 3
            for key, value in message.items():
                total += len(enc.encode(value))
print(json.dumps({"examples": n, "tokens": total,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

FTW = r"""
import json, sys, resource
from ftwidgets.data.validate import validate_file
r = validate_file(sys.argv[1])
peak = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
print(json.dumps({"examples": r.examples, "tokens": r.tokens["total"], "valid": r.valid,
                  "near_duplicates": r.quality["near_duplicates"], "peak_mb": peak / 1024}))
"""


def make_file(n: int) -> Path:
    """n math-tutor examples (about 110 tokens each), with a few planted problems so every scan has work."""
    sys.path.insert(0, str(ROOT / "data" / "samples"))
    import make_samples  # the committed generator

    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"math_{n}.jsonl"
    if path.exists():
        return path
    examples = make_samples.math_tutor(n)
    for i in range(0, n, 997):  # a contact address now and then, for the personal-data scan
        examples[i]["messages"][1]["content"] += f" My email is student{i}@example.com"
    with open(path, "w", encoding="utf-8") as fh:
        for ex in examples:
            fh.write(json.dumps(ex, ensure_ascii=False) + "\n")
    return path


def run(code: str, path: Path) -> tuple[float, dict]:
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, env=env, check=True)
    return time.perf_counter() - t0, json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--examples", type=int, nargs="*", default=[10_000, 100_000])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    print(f"cores: {os.cpu_count()}; python {sys.version.split()[0]}")
    for n in args.examples:
        path = make_file(n)
        base_t, ftw_t = [], []
        for _ in range(args.repeats):
            t, base = run(BASELINE, path)
            base_t.append(t)
            t, ftw = run(FTW, path)
            ftw_t.append(t)
        b, f = statistics.median(base_t), statistics.median(ftw_t)
        print(
            f"{n:>7,} examples, {base['tokens']:,} tokens (baseline) / {ftw['tokens']:,} (ftw, with chat overhead)\n"
            f"  baseline json.loads + tiktoken per message: {b:6.2f} s, peak {base['peak_mb']:.0f} MB\n"
            f"  ftw validate, every check:                  {f:6.2f} s, peak {ftw['peak_mb']:.0f} MB"
            f"  (near duplicates found: {ftw['near_duplicates']})\n"
            f"  ratio baseline/ftw = {b / f:.2f}  (>= 1.0: ftw at least as fast)"
        )


if __name__ == "__main__":
    main()
