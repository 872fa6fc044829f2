"""What this machine offers a training job: a CUDA GPU, a container memory limit, a leaner allocator.

Pure questions about the machine, asked without loading torch here, so the notebooks,
the core and the engine share one answer.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def cuda_available() -> bool:
    """Whether torch sees a CUDA GPU, asked in a short-lived process so this one never loads torch
    (about 180 MB) just to size a workload; a notebook's kernel stays small that way."""
    try:
        probe = subprocess.run([sys.executable, "-c", "import torch; print(torch.cuda.is_available())"],
                               capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.stdout.strip() == "True"


def memory_limit_bytes() -> int | None:
    """This container's memory limit (cgroup v2 or v1), or None when there is none."""
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(path).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 2**60:  # cgroup v1 writes a huge number for "no limit"
            return int(text)
    return None


def lean_allocator_env() -> dict[str, str]:
    """Environment for a long-lived torch process (the engine, a trainer) that keeps its memory lean.

    glibc gives each thread pool its own malloc arena and keeps freed blocks; two arenas and
    an early trim gave a CPU trainer a 13% lower peak (1.39 -> 1.20 GB at the tight batch
    budget, benchmarks/trainer_memory.py) at the same speed. A value the user set wins.
    """
    import os

    wanted = {"MALLOC_ARENA_MAX": "2", "MALLOC_TRIM_THRESHOLD_": "131072"}
    return {**os.environ, **{k: v for k, v in wanted.items() if k not in os.environ}}
