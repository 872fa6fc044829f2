"""Chat completions for base and fine-tuned models, with concurrent requests batched.

One worker thread owns the models. Requests queue up; the worker takes the first, gathers more while they keep
arriving (a pause of `max_wait`, 20 ms, ends it; `max_gather`, 0.25 s, at most), and hands the group that shares a
model and sampling settings to the models, which decode it many rows at a time (`decoding.ContinuousBatch`: a row
that ends makes room for a waiting prompt; ``generate`` for a stream or stop strings) and hand each answer back as
soon as it is done. Evaluating a test set with a thread pool therefore costs a few batched calls, not one call per
prompt. LoRA adapters are loaded on demand onto the base model and kept (LRU).

The models themselves (`chat_models.ChatModels`) live in a process of their own (`serving_process`), so releasing them
gives back torch's memory too. Imports go one way, as across any process boundary here: this side imports
`serving_process`, whose child imports `chat_models`; the request and answer types they share are the leaf
`serving_types`.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future

from .serving_process import ModelProcess
from .serving_types import MAX_BATCH_TOKENS, GenRequest, GenResult

_RELEASE = object()  # a message to the worker: drop the loaded models


class Generator:
    """Gathers requests into batches on one worker thread; the models answer them in their own process."""

    def __init__(
        self,
        *,
        threads: int | None = None,
        cpu_bf16: bool = True,
        max_batch: int = 32,
        max_batch_tokens: int = MAX_BATCH_TOKENS,
        max_group: int = 256,
        max_wait: float = 0.02,
        max_gather: float = 0.25,
        max_adapters: int = 8,
        idle_release: float | None = 120.0,
    ):
        # the models' process decodes at most `max_batch` rows and `max_batch_tokens` cache positions at once, taking
        # the next of a group's requests as rows end; a group is up to `max_group` requests that share a model and
        # its settings, gathered while they arrive
        self.max_batch, self.max_batch_tokens, self.max_group = max_batch, max_batch_tokens, max_group
        self.max_wait = max_wait  # the longest pause between two requests of one batch
        # the longest a batch waits for more requests in all: 0.25 s gathers a thread pool's whole wave
        # (1.70x on an evaluation, benchmarks/eval_speed.py)
        self.max_gather = max_gather
        # the models go after this many seconds without a request (None: never): an engine that served step 5's
        # answers otherwise holds 0.7-0.8 GB for the rest of a 2 GB session; the next request loads them again
        self.idle_release = idle_release
        self.idle_releases = 0  # how often that happened (for tests)
        # with `cpu_bf16`, a CPU with hardware bfloat16 serves in bfloat16: a batch of 16 answers decodes at 2x
        # float32's speed (benchmarks/eval_speed.py)
        self.models = ModelProcess(threads, cpu_bf16, max_adapters, max_batch, max_batch_tokens)
        self._queue: queue.Queue[GenRequest | None] = queue.Queue()
        self.batches = 0  # batches answered (for tests and benchmarks)
        self._thread = threading.Thread(target=self._run, name="ftw-generator", daemon=True)
        self._thread.start()

    @property
    def loaded(self) -> bool:
        """Whether the models' process is up (it starts with the first request after a release)."""
        return self.models.alive

    # --- public -----------------------------------------------------------------------
    def submit(self, req: GenRequest) -> Future:
        self._queue.put(req)
        return req.future

    def stream(self, req: GenRequest) -> Iterator[str]:
        """Text pieces as they are generated; the final GenResult lands in ``req.future``."""
        req.stream = True
        req.pieces = queue.Queue()
        self._queue.put(req)
        while True:
            piece = req.pieces.get()
            if piece is None:
                break
            yield piece
        req.future.result()  # re-raise a generation error at the end of the stream

    def close(self) -> None:
        self._queue.put(None)

    def release(self) -> None:
        """Drop the loaded models (after the requests already queued): a trainer is about to need the memory,
        and the next chat request loads them again."""
        self._queue.put(_RELEASE)

    # --- worker -----------------------------------------------------------------------
    def _run(self) -> None:
        pending: list[GenRequest] = []
        while True:
            try:
                first = (
                    pending.pop(0) if pending else self._queue.get(timeout=self.idle_release if self.loaded else None)
                )
            except queue.Empty:  # idle with models loaded: give their memory back
                first = _RELEASE
                self.idle_releases += 1
            if first is None:
                self.models.stop()
                return
            if first is _RELEASE:
                self.models.stop()
                continue
            if first.stream:
                self._serve([first])
                continue
            batch = [first]
            for waiting in list(pending):  # requests set aside by an earlier group (another model) join this one first
                if len(batch) < self.max_group and self._joins(first, waiting):
                    batch.append(waiting)
                    pending.remove(waiting)
            cap = time.monotonic() + self.max_gather
            while len(batch) < self.max_group:
                # gather while requests keep coming (a client's thread pool sends its next wave a few ms apart)
                timeout = min(self.max_wait, cap - time.monotonic())
                try:
                    nxt = self._queue.get(timeout=timeout) if timeout > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None or nxt is _RELEASE:
                    self._queue.put(nxt)  # handled in turn, after this group
                    break
                if self._joins(first, nxt):
                    batch.append(nxt)
                else:
                    pending.append(nxt)
            self._serve(batch)

    def _joins(self, first: GenRequest, other: GenRequest) -> bool:
        """Whether `other` may join the group `first` started: the same model and settings, not a stream."""
        return not other.stream and other.key() == first.key()

    def _serve(self, batch: list[GenRequest]) -> None:
        try:
            results = self._generate(batch)
        except Exception as exc:  # noqa: BLE001 - every waiting request learns why
            for r in batch:
                if r.pieces is not None:
                    r.pieces.put(None)
                if not r.future.done():
                    r.future.set_exception(exc)
            return
        for r, res in zip(batch, results):
            if not r.future.done():
                r.future.set_result(res)

    def _generate(self, batch: list[GenRequest]) -> list[GenResult]:
        """A group of requests that share a model and their sampling settings, answered in the models' process;
        each request's future is resolved as soon as its answer comes."""
        self.batches += 1
        return self.models.generate(batch, lambda k, result: batch[k].future.set_result(result))
