"""What an engine runs with: the base models it offers, its threads, limits and memory budget, and whether
it runs python graders. The routes, the server and the job runner all read these; none of them holds them."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from . import data_parallel, models
from .recipe import MAX_SEQ_LEN, default_max_batch_tokens


@dataclass
class EngineSettings:
    # base models clients may fine-tune and chat with: the embedded one, plus local folders or
    # Hugging Face ids the operator adds (clients can never name arbitrary paths)
    base_models: tuple[str, ...] = (models.DEFAULT_BASE_MODEL,)
    threads: int | None = None
    max_seq_len: int = MAX_SEQ_LEN
    max_upload_bytes: int = 512 * 1024 * 1024
    validations_per_job: int = 30  # evaluations of a fixed validation sample over a job's planned steps
    # batches cut from runs of 16 batches sorted by length: 1.14x tokens/s, format learned as well
    # (benchmarks/trainer_speed.py; docs/performance.md)
    length_buckets: int = 16
    # the frozen base weights in bfloat16 on a CPU with hardware bfloat16, for training and for chat: 1.5-2x
    # float32's speed (docs/performance.md); settings that turn it off should pass
    # max_batch_tokens=default_max_batch_tokens(cpu_bf16=False) under tight memory
    cpu_bf16: bool = True
    max_batch_tokens: int | None = field(default_factory=default_max_batch_tokens)
    # each job's trainer on this many data-parallel processes (`accelerate launch`; FTW_TRAIN_PROCESSES)
    train_processes: int = field(default_factory=data_parallel.processes_from_env)
    # the chat models are dropped after this many seconds without a chat request (None: kept)
    serving_idle_release: float | None = 120.0
    # run python graders (code sent by whoever calls): the server turns it on when it listens on loopback, or when its
    # operator allows it (--allow-python-graders, FTW_ALLOW_PYTHON_GRADERS=1)
    python_graders: bool = field(default_factory=lambda: os.environ.get("FTW_ALLOW_PYTHON_GRADERS") == "1")


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def python_graders_allowed(host: str, allowed: bool = False) -> bool:
    """Python graders run on an engine that only this machine reaches, or where its operator allows them."""
    return allowed or host in LOOPBACK or os.environ.get("FTW_ALLOW_PYTHON_GRADERS") == "1"
