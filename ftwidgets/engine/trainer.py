"""The trainer process: one fine-tuning job, run apart from the engine.

Run as ``python -m ftwidgets.engine.trainer JOB_DIR``. It reads the job's `TrainerSpec`, runs the job's method
(`supervised.SupervisedRun` or `preference.PreferenceRun`, peers on `training_run.TrainingRun`) and writes its
`TrainerOutcome` through `contract.JobFolder`. It is its own process so the API stays responsive and cancel is a
signal; the runner treats a missing outcome as a crash, and a crash here fails the job with a message.
"""

from __future__ import annotations

import os
import sys
import traceback

from ..runtime import disk
from .contract import JobError, JobFolder, TrainerOutcome
from .data_parallel import GroupBroken
from .preference import PreferenceRun
from .supervised import SupervisedRun


def train(folder: JobFolder) -> TrainerOutcome:
    spec = folder.read_spec()
    run = PreferenceRun if spec.method == "dpo" else SupervisedRun
    return run(spec, folder).run()


def _failure(exc: Exception, rank: int, world: str | None, folder: JobFolder) -> JobError:
    """The job's error for an exception in process `rank` (of `world`, in a data-parallel job)."""
    if isinstance(exc, GroupBroken):  # a peer is gone, not this process's fault
        return JobError(
            code="trainer_crashed",
            message=f"Training failed: another of the job's {world} processes stopped, "
            f"so process {rank + 1} lost its connection to it; see {folder.log_file}",
        )
    if disk.is_full(exc):  # a checkpoint, the frozen prefix or the model could not be written
        return JobError(code="disk_full", message=disk.training_stopped(folder.path))
    where = f" in process {rank + 1} of {world}" if world else ""
    return JobError(code="training_error", message=f"Training failed{where}: {type(exc).__name__}: {exc}")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    folder = JobFolder(args[0])
    rank = int(os.environ.get("RANK", "0"))  # set by `accelerate launch` for each of a data-parallel job's processes
    try:
        outcome = train(folder)
    except Exception as exc:  # a crash fails the job with a message, never leaves it running
        try:
            folder.traceback_file(rank).write_text(traceback.format_exc())
        except OSError:  # e.g. the disk that just filled up
            pass
        outcome = TrainerOutcome(status="failed", error=_failure(exc, rank, os.environ.get("WORLD_SIZE"), folder))
        folder.event(outcome.error.message, level="error")
    if rank == 0 or outcome.status != "succeeded":  # any process may fail the job; only the main one finishes it
        folder.write_outcome(outcome)
    return 0 if outcome.status == "succeeded" else 1


if __name__ == "__main__":
    sys.exit(main())
