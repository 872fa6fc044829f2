"""What the machine offers: a GPU answer without torch, a lean allocator for the engine, glibc's own for the trainer."""

from ftwidgets.runtime.machine import default_allocator_env, lean_allocator_env


def test_the_engine_runs_with_a_lean_allocator(monkeypatch):
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    assert lean_allocator_env()["MALLOC_ARENA_MAX"] == "2"
    monkeypatch.setenv("MALLOC_ARENA_MAX", "8")
    assert lean_allocator_env()["MALLOC_ARENA_MAX"] == "8"  # the user's choice wins


def test_the_gpu_question_never_loads_torch_in_the_asking_process():
    import subprocess
    import sys

    probe = (
        "import sys; from ftwidgets.runtime.machine import cuda_available; a = cuda_available(); "
        "print(type(a).__name__, 'torch' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=180, check=True
    ).stdout.split()
    assert out == ["bool", "False"]  # a notebook kernel that asks stays free of torch (about 180 MB)


def test_the_trainer_gets_glibcs_allocator_back_unless_the_user_chose(monkeypatch):
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "65536")  # the user's own setting
    for key, value in lean_allocator_env().items():  # what the engine process runs with
        monkeypatch.setenv(key, value)
    trainer = default_allocator_env()
    assert "MALLOC_ARENA_MAX" not in trainer and trainer["MALLOC_TRIM_THRESHOLD_"] == "65536"


def test_freed_memory_goes_back_to_the_system():
    import subprocess
    import sys

    probe = """
from ftwidgets.runtime.machine import return_freed_memory
def rss_mb():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20
blocks = [bytes(4000) for _ in range(60_000)]  # ~240 MB from malloc's heap
keep = blocks[::50]  # a few survivors pin the heap, so glibc cannot shrink it by itself
del blocks
before = rss_mb()
return_freed_memory()
print(before, rss_mb())
"""
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    before, after = map(float, out.stdout.split())
    assert before > 150 and after < before - 100, (before, after)


def test_pages_mapped_from_a_file_go_back_and_anonymous_ones_are_left_alone(tmp_path):
    """How a trainer drops the weights of layers it will not run again: mapped from the model file, their pages leave
    the process and read back correctly if touched; a tensor of the process's own memory is never touched."""
    import numpy as np
    import psutil
    import torch

    from ftwidgets.runtime.machine import hand_back_file_pages

    path = tmp_path / "weights.bin"
    np.arange(8 * 2**20, dtype=np.float32).tofile(path)  # 32 MB
    mapped = torch.from_numpy(np.memmap(path, dtype=np.float32, mode="c"))  # private, as transformers maps a file
    me = psutil.Process()
    total = float(mapped.sum())  # every page read
    before = me.memory_full_info().rss
    handed = hand_back_file_pages([mapped])
    assert handed > 30 * 2**20 and me.memory_full_info().rss < before - 24 * 2**20
    assert float(mapped.sum()) == total  # read again from the file, unchanged
    own = torch.arange(8 * 2**20, dtype=torch.float32)
    assert hand_back_file_pages([own]) == 0 and float(own.sum()) == total
