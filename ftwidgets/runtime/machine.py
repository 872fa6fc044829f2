"""What this machine offers a training job: a CUDA GPU, hardware bfloat16, a container memory limit, a leaner allocator.

Pure questions about the machine, asked without loading torch here, so the notebooks,
the core and the engine share one answer.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def cuda_available() -> bool:
    """Whether torch sees a CUDA GPU, asked in a short-lived process so this one never loads torch
    (about 180 MB) just to size a workload; a notebook's kernel stays small that way."""
    return bool(gpu_memory_bytes())


def gpu_memory_bytes() -> list[int]:
    """The total memory of each CUDA GPU torch sees (none on a machine without an NVIDIA driver),
    asked in a short-lived process like `cuda_available`."""
    if not Path("/dev/nvidiactl").exists() and not Path("/proc/driver/nvidia").exists():
        return []  # no NVIDIA driver: no need to start torch to know
    code = (
        "import torch; print(' '.join(str(torch.cuda.get_device_properties(i).total_memory) "
        "for i in range(torch.cuda.device_count())) if torch.cuda.is_available() else '')"
    )
    try:
        probe = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [int(n) for n in probe.stdout.split() if n.isdigit()]


CPU_BF16_ENV = "FTW_CPU_BF16"  # "0": the float32 path on any CPU (tests, benchmarks); "1": bfloat16 on any CPU


def cpu_has_native_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 matrices in hardware (AVX512-BF16 or AMX), read from the kernel's
    CPU flags (the same CPUID bits torch probes) so a process need not load torch to know. There a bfloat16
    matrix product runs at about 2.6x float32's (512 x 576 by 576 x 49,152: 0.14 s against 0.37 s on this
    project's 2-core AMD EPYC); elsewhere bfloat16 is emulated and slower. ``FTW_CPU_BF16`` (``0`` or ``1``)
    overrides the flags, so the float32 path that CPUs without them take can be run and measured anywhere; the
    engine's processes inherit it."""
    forced = os.environ.get(CPU_BF16_ENV, "").strip()
    if forced in ("0", "1"):
        return forced == "1"
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux: assume not
        return False
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return "avx512_bf16" in flags or "amx_bf16" in flags


def available_memory_bytes() -> int | None:
    """Memory a new process can still take: the kernel's MemAvailable, or what is left under this
    container's limit when that is less (None where neither can be read)."""
    found = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError):
        pass
    limit = memory_limit_bytes()
    for path in ("/sys/fs/cgroup/memory.current", "/sys/fs/cgroup/memory/memory.usage_in_bytes"):
        try:
            used = int(Path(path).read_text().strip())
        except (OSError, ValueError):
            continue
        if limit is not None:
            found.append(max(0, limit - used))
        break
    return min(found) if found else None


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


LEAN_MALLOC = {"MALLOC_ARENA_MAX": "2"}
ADDED_MARK = "FTW_LEAN_MALLOC_ADDED"  # which of them lean_allocator_env added (not the user)


def lean_allocator_env() -> dict[str, str]:
    """Environment for a long-lived process (the engine) that keeps its memory lean.

    glibc gives each thread pool its own malloc arena; two arenas keep a serving process small. No
    fixed trim threshold: setting one also turns off glibc's adaptive mmap threshold, and decoding
    ran 1.66x slower with it (181 against 109 ms a token, 32 answers in bfloat16); the engine calls
    `return_freed_memory` after each batch instead. A value the user set wins.
    """
    added = {k: v for k, v in LEAN_MALLOC.items() if k not in os.environ}
    return {**os.environ, **added, ADDED_MARK: ",".join(added)}


def return_freed_memory() -> None:
    """Give the memory freed since the last call back to the system (glibc's ``malloc_trim``), so a
    process that has just answered a large batch shrinks again; a no-op where libc has no such call."""
    import ctypes

    try:
        trim = ctypes.CDLL(None).malloc_trim  # the symbols the process has loaded, libc's among them
    except (OSError, AttributeError, TypeError):  # no such call (not glibc), or no process handle (Windows)
        return
    trim(0)


def hand_back_file_pages(tensors) -> int:
    """Let the system drop the pages of tensors mapped from a file (weights transformers mapped from a safetensors
    file instead of copying them), which stay counted in a process's memory once read, though never read again.
    Only whole pages inside a file mapping are touched: an anonymous tensor's pages would come back as zeros, a
    mapped file's are read from the file again if ever needed. Returns the bytes handed back (0 off Linux)."""
    import ctypes
    import mmap

    try:
        lines = Path("/proc/self/maps").read_text().splitlines()
        advise = ctypes.CDLL(None).madvise
    except (OSError, AttributeError, TypeError):
        return 0
    advise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    files = []
    for line in lines:
        parts = line.split()
        # an inode and a path: a file (not a device's mapping, such as a GPU driver's under /dev)
        if len(parts) >= 6 and parts[4] != "0" and parts[5].startswith("/") and not parts[5].startswith("/dev/"):
            start, end = (int(x, 16) for x in parts[0].split("-"))
            files.append((start, end))
    page, handed = mmap.PAGESIZE, 0
    for tensor in tensors:
        if tensor.device.type != "cpu":  # a GPU's memory is freed with the tensor
            continue
        first, last = tensor.data_ptr(), tensor.data_ptr() + tensor.nbytes
        if not any(start <= first and last <= end for start, end in files):
            continue
        first, last = -(-first // page) * page, last // page * page
        if last > first and advise(first, last - first, 4) == 0:  # MADV_DONTNEED
            handed += last - first
    return handed


def default_allocator_env() -> dict[str, str]:
    """Environment for a process started from a lean one that should use glibc's own allocator settings:
    the malloc settings `lean_allocator_env` added are removed (a value the user set stays).

    The trainer: the lean settings cost it a quarter of its speed for 9% of its memory (204 against
    163 tokens/s, 1.14 against 1.04 GB, benchmarks/trainer_memory.py --allocators lean default).
    """
    added = set(filter(None, os.environ.get(ADDED_MARK, "").split(",")))
    return {k: v for k, v in os.environ.items() if k not in added and k != ADDED_MARK}
