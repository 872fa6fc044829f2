"""The training recipe: the measured settings a job trains with, apart from the runner that schedules jobs.

The learning rates at multiplier 1 (supervised and DPO), the longest sequence, and the tokens per forward pass when
memory is tight; `trainer_spec` turns a job and the engine's settings into the trainer's resolved `TrainerSpec`.
LoRA's own rules are in `lora`. Every figure here names its measurement in docs/performance.md.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from openai.types.fine_tuning import FineTuningJob

from ..hyperparams import DPO, hyperparameter_names
from ..job_options import trainer_fields
from ..runtime import machine
from . import models
from .contract import TrainerSpec
from .lora import lora_for

if TYPE_CHECKING:
    from .settings import EngineSettings

BASE_LEARNING_RATE = 2e-3  # LoRA learning rate at learning_rate_multiplier = 1 (measured: learns the
# math-tutor format in one epoch of 64 examples; 2e-4 learned nothing in two)
# DPO's LoRA learning rate at multiplier 1: 50x lower. The two answers of a pair share their prompt and most of
# their words, which cancel in the loss, so nothing holds the rest of the model in place; measured from a
# fine-tuned SmolLM2 on 120 pairs x 2 epochs (docs/performance.md), 2e-3 and 5e-4 made every answer a run of the
# preferred words and 1e-4 still repeated them; 4e-5 moved 16 of 16 held-out answers to the preferred ending (from 6),
# 13 of them exactly; 2e-5 moved 13 and left 3 on the other.
DPO_BASE_LEARNING_RATE = 4e-5
MAX_SEQ_LEN = 1024

# Tokens per forward pass when memory is tight (mybinder gives 2 GiB), by the precision of the frozen
# weights. Measured on the real trainer process, SmolLM2 at batch 4, 100 math-tutor examples (docs/performance.md,
# "Performance"): float32 peaks at 1.16-1.18 GB with parts of 128 tokens (1.40 GB in the full-size workbook);
# bfloat16, its shapes rounded (models.HALF_PRECISION_ROWS), at 1.20 GB with parts of 256 and 1.40 GB with
# 512, at 1.96x float32's tokens/s with 256. binder/start and scripts/run_workbook.py ask for it by name
# (FTW_MAX_BATCH_TOKENS=tight, a test keeps them so) and their processes need not import the engine.
TIGHT_MEMORY_BATCH_TOKENS = {"float32": 128, "bfloat16": 256}
TIGHT = "tight"


ORG = "ftwidgets"  # the organisation the engine's models and jobs name as their owner


def fine_tuned_name(base: str, suffix: str | None, job_id: str) -> str:
    """The model a job makes: ``ft:BASE:ftwidgets:SUFFIX:JOBID8``, as OpenAI names them (a folder's own name only)."""
    short_base = base if "/" not in base and os.sep not in base else Path(base).name
    return f"ft:{short_base}:{ORG}:{suffix or ''}:{job_id.split('-', 1)[1][:8]}"


def default_max_batch_tokens(cpu_bf16: bool = True) -> int | None:
    """Tokens per training forward pass: unlimited unless memory is tight.

    ``FTW_MAX_BATCH_TOKENS`` sets it (0 = unlimited, ``tight`` = as under a small memory limit). Otherwise a
    container memory limit under 4 GiB selects the tight budget of the precision the trainer will use
    (bfloat16 with `cpu_bf16` on a CPU that has it).
    """
    env = os.environ.get("FTW_MAX_BATCH_TOKENS", "").strip()
    if env and env != TIGHT:
        return int(env) or None
    limit = machine.memory_limit_bytes()
    if env == TIGHT or (limit is not None and limit < 4 * 2**30):
        return TIGHT_MEMORY_BATCH_TOKENS[models.cpu_dtype(cpu_bf16)]
    return None


def trainer_spec(
    job: FineTuningJob,
    settings: EngineSettings,
    *,
    base: str,
    start_adapter: str | None,
    training_path: Path,
    validation_path: Path | None,
) -> TrainerSpec:
    """What the trainer needs for `job` on `base` (from `start_adapter` when it starts from a model fine-tuned here),
    every setting resolved: the job's hyperparameters, this recipe's learning rate, LoRA and budget, the engine's
    limits."""
    hp = getattr(job.method, job.method.type).hyperparameters.model_dump()  # resolved when the job was queued
    base_rate = DPO_BASE_LEARNING_RATE if job.method.type == DPO else BASE_LEARNING_RATE
    return TrainerSpec(
        **{name: hp[name] for name in hyperparameter_names(job.method.type) if name in TrainerSpec.model_fields},
        job_id=job.id,
        base_model=base,
        start_adapter=start_adapter,
        method=job.method.type,
        training_path=str(training_path),
        validation_path=str(validation_path) if validation_path is not None else None,
        learning_rate=base_rate * hp["learning_rate_multiplier"],
        seed=job.seed,
        threads=settings.threads,
        max_seq_len=settings.max_seq_len,
        validations_per_job=settings.validations_per_job,
        max_batch_tokens=settings.max_batch_tokens,
        lora=lora_for(hp["n_epochs"]),
        length_buckets=settings.length_buckets,
        processes=settings.train_processes,
        cpu_bf16=settings.cpu_bf16,
        **trainer_fields(job.metadata),  # the engine-only options the trainer reads (job_options)
        fine_tuned_model=fine_tuned_name(base, getattr(job, "user_provided_suffix", None), job.id),
    )
