"""Will a job fit in memory? A lower bound on what its trainer needs, checked before the trainer starts.

Each training process holds the base model's weights at the dtype it trains in (float32 on a
CPU, bfloat16 on a GPU) plus what a trainer holds before its first batch: torch, the tokenizer,
the encoded data (`RUNTIME_BYTES`). A job under that bound may still run out of memory on long
examples; a job over it cannot even load, so the runner refuses it while it validates the
files, with the numbers, instead of letting a trainer die (or the machine swap) half-way
through loading.

The weights are counted without loading them: from the safetensors headers when the folder
has weights, otherwise from the config, by building the model on PyTorch's "meta" device with
Accelerate's `init_empty_weights` (in a short-lived process, so the engine never loads torch
just to size a job).
"""

from __future__ import annotations

import math
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ..runtime import machine
from . import models

GB = 1e9
# What a SmolLM2 trainer held beyond its 0.54 GB of float32 weights at its peak, 1.15 GB at batch 4 in parts
# of 128 tokens (benchmarks/trainer_memory.py), rounded down: torch's runtime, the tokenizer, the data, LoRA's
# optimiser state and the activations of one part.
RUNTIME_BYTES = int(0.5 * GB)


def safetensors_parameters(folder: Path) -> int | None:
    """The number of weights in a folder's ``*.safetensors`` files, from their headers alone (nothing is loaded)."""
    from safetensors import safe_open

    files = sorted(Path(folder).glob("*.safetensors"))
    if not files:
        return None
    total = 0
    for path in files:
        with safe_open(path, framework="np") as weights:
            total += sum(math.prod(weights.get_slice(name).get_shape()) for name in weights.keys())
    return total


def config_parameters(folder: Path) -> int:
    """The number of weights of the model a folder's config.json describes (built on the meta device)."""
    from accelerate import init_empty_weights
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(folder)
    with init_empty_weights():
        model = AutoModelForCausalLM.from_config(config)
    return sum(p.numel() for p in model.parameters())  # tied weights are one parameter, counted once


def parameters(base_model: str) -> int | None:
    """How many weights `base_model` has, or None when that cannot be known here (a hub id, or the
    embedded model before its first conversion)."""
    where = models.local_folder(base_model)
    if where is None:
        return None
    counted = safetensors_parameters(where)
    if counted is not None:
        return counted
    if not (where / "config.json").exists():
        return None
    probe = subprocess.run(
        [sys.executable, "-m", "ftwidgets.engine.memory_plan", str(where)], capture_output=True, text=True, timeout=300
    )
    return int(probe.stdout.strip()) if probe.returncode == 0 and probe.stdout.strip().isdigit() else None


@dataclass(frozen=True)
class MemoryPlan:
    """A job's memory need (at least) against what the machine offers it."""

    base_model: str
    parameters: int
    processes: int
    gpus: tuple[int, ...]  # the total memory of each GPU; empty on a CPU machine
    available: int | None  # CPU memory a new process can take now (None: unknown)
    weights_dtype: str = (
        "float32"  # the smallest the trainer may load them in: bfloat16 on a GPU, or where allowed on a CPU
    )

    @property
    def bytes_per_parameter(self) -> int:
        return 2 if self.weights_dtype == "bfloat16" else 4

    @property
    def per_process(self) -> int:
        return self.parameters * self.bytes_per_parameter + RUNTIME_BYTES

    def refusal(self) -> str | None:
        """Why the job cannot fit, in numbers; None when it may."""
        need = (
            f"at least {self.per_process / GB:.1f} GB per training process ({self.parameters / 1e6:,.0f} M weights "
            f"as {self.weights_dtype}: {self.parameters * self.bytes_per_parameter / GB:.1f} GB, "
            f"plus {RUNTIME_BYTES / GB:.1f} GB "
            f"for the trainer itself)"
        )
        if self.gpus:
            if self.processes > len(self.gpus):
                return (
                    f"This job asks for {self.processes} training processes, one per GPU, but this machine has "
                    f"{len(self.gpus)} GPU(s). Set FTW_TRAIN_PROCESSES to {len(self.gpus)} or fewer."
                )
            smallest = min(self.gpus[: self.processes])
            if self.per_process > smallest:
                return (
                    f"{self.base_model} cannot be fine-tuned here: it needs {need}, and a GPU here has "
                    f"{smallest / GB:.1f} GB. Choose a smaller base model or a GPU with more memory."
                )
            return None
        total = self.per_process * self.processes
        if self.available is not None and total > self.available:
            across = f" x {self.processes} processes = {total / GB:.1f} GB" if self.processes > 1 else ""
            fewer = " Train on fewer processes (FTW_TRAIN_PROCESSES)," if self.processes > 1 else ""
            return (
                f"{self.base_model} cannot be fine-tuned here: it needs {need}{across}, and this machine has "
                f"{self.available / GB:.1f} GB available.{fewer} Choose a smaller base model or a machine with more "
                f"memory" + (" (a GPU trains in bfloat16, half the size)." if self.weights_dtype == "float32" else ".")
            )
        return None


def plan(base_model: str, processes: int, *, cpu_bf16: bool, counted: int | None = None) -> MemoryPlan | None:
    """The memory plan of training `base_model` on `processes` processes here (None when its size is unknown).
    With `cpu_bf16` (the engine's setting) a CPU trainer may load the weights in bfloat16, so the bound counts
    2 bytes a weight: a lower bound must never refuse a job that would fit."""
    n = counted if counted is not None else parameters(base_model)
    if n is None:
        return None
    gpus = tuple(machine.gpu_memory_bytes())
    return MemoryPlan(
        base_model, n, processes, gpus, machine.available_memory_bytes(), "bfloat16" if gpus or cpu_bf16 else "float32"
    )


if __name__ == "__main__":  # the short-lived process `parameters` starts for a folder without weights
    print(config_parameters(Path(sys.argv[1])))
