"""Data-parallel training: one job's trainer on N processes, started and joined by Hugging Face Accelerate.

`launch_command` is what the job runner starts when a job should train on N > 1 processes:
``accelerate launch`` with its torchrun launcher (``--multi_gpu``). On a machine without a
GPU the trainer asks Accelerate for the CPU, and the processes meet over gloo; on GPUs they
meet over NCCL, one GPU each. (Accelerate's ``--cpu`` launch starts several processes only
through MPI, which a notebook machine rarely has.)

`Processes` is the trainer's view of its group. Every process reads the same batches (same
data, same seed) and takes every N-th example of each. Each weighs its examples' loss by
their share of the *whole* batch's labelled tokens, so the gradients summed over the
processes, not averaged as PyTorch's DDP does, are one process's gradient for the whole
batch: the update, and so the loss curve, is the same whatever N. The sum is done here
rather than by wrapping the model in DDP because the trainer runs parts of the model
directly (the frozen layers' store), which DDP's wrapper would not see. Only the LoRA
weights' gradients travel, once per step.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .models import Device, pick_device

TRAINER_MODULE = "ftwidgets.engine.trainer"  # the trainer process's module, run with ``python -m``: the one spelling

PROCESSES_ENV = "FTW_TRAIN_PROCESSES"


def processes_from_env() -> int:
    """``FTW_TRAIN_PROCESSES`` as a count (1 when unset); anything but a positive whole number is refused."""
    text = os.environ.get(PROCESSES_ENV, "").strip() or "1"
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"{PROCESSES_ENV} must be a whole number of processes, 1 or more; it is {text!r}")
    return int(text)


def cpu_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def threads_per_process(processes: int, threads: int | None = None) -> int:
    """The engine's CPU threads (``--threads``, else every core) shared out among the processes."""
    return max(1, (threads or cpu_cores()) // processes)


def launch_command(processes: int, threads: int | None = None) -> list[str]:
    """The command that runs ``ftwidgets.engine.trainer`` on `processes` processes (append the job folder)."""
    return [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes",
        str(processes),
        "--num_machines",
        "1",
        "--main_process_port",
        "0",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "--num_cpu_threads_per_process",
        str(threads_per_process(processes, threads)),
        "-m",
        TRAINER_MODULE,
    ]


class GroupBroken(RuntimeError):
    """An exchange with the other processes failed: one of them stopped (a crash, a kill), not this one."""


def _exchange(operation, *args, **kwargs):
    """Run one of Accelerate's collective operations; a broken connection becomes `GroupBroken`."""
    try:
        return operation(*args, **kwargs)
    except RuntimeError as exc:  # gloo and NCCL raise plain RuntimeErrors when a peer has gone
        raise GroupBroken(str(exc).splitlines()[0][:300]) from exc


@dataclass
class Processes:
    """This process's place in the job's group: its rank, how many there are, its device."""

    rank: int
    count: int
    device: Device
    backend: str | None = None

    @classmethod
    def join(cls, threads: int | None = None) -> Processes:
        """The group this process was launched into: alone unless ``accelerate launch`` started several."""
        if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
            return cls(0, 1, pick_device(threads))
        import torch
        from accelerate import PartialState

        cuda = torch.cuda.is_available()
        state = PartialState(cpu=not cuda)  # without a GPU: gloo between CPU processes
        device = pick_device()  # its dtype; the threads come from the launcher's OMP_NUM_THREADS
        return cls(state.process_index, state.num_processes, Device(str(state.device), device.dtype), state.backend)

    @property
    def is_main(self) -> bool:
        """The process that writes the job's events, checkpoints, model and outcome."""
        return self.rank == 0

    def share(self, items: Sequence[Any]) -> list[Any]:
        """This process's examples of a batch (or of a validation set): every `count`-th, from its rank."""
        return list(items[self.rank :: self.count])

    def sum(self, values: Sequence[float]) -> list[float]:
        """Each value summed over the processes (unchanged when alone)."""
        if self.count == 1:
            return list(values)
        import torch
        from accelerate.utils import reduce

        return _exchange(
            reduce, torch.tensor(values, dtype=torch.float64, device=self.device.name), reduction="sum"
        ).tolist()

    def sum_gradients(self, params: Sequence[Any]) -> None:
        """Replace each parameter's gradient by its sum over the processes (a process whose share of
        a batch was empty contributes zeros)."""
        if self.count == 1:
            return
        import torch
        from accelerate.utils import reduce

        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        total = _exchange(reduce, torch.cat([g.reshape(-1) for g in grads]), reduction="sum")
        for p, part in zip(params, total.split([g.numel() for g in grads])):
            p.grad = part.view_as(p)

    def same_start(self, params: Sequence[Any]) -> None:
        """Give every process the main process's trainable weights (LoRA's random start included)."""
        if self.count == 1:
            return
        import torch
        from accelerate.utils import broadcast

        with torch.no_grad():
            for p in params:
                p.copy_(_exchange(broadcast, p.detach().clone()))

    def finish_together(self) -> None:
        """Wait until every process has finished its job (the main one writes the model and the outcome last), so no
        process tears its connections down while another still uses them: gloo can abort a process that does
        (``terminate called without an active exception``), and the launcher then kills the rest."""
        if self.count > 1:
            import torch.distributed

            _exchange(torch.distributed.barrier)

    def leave(self) -> None:
        """Close the group's connections (each process, at the end of its job)."""
        if self.count > 1:
            import torch.distributed

            if torch.distributed.is_initialized():
                torch.distributed.destroy_process_group()
