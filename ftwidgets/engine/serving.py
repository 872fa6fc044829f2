"""Chat completions for base and fine-tuned models, with concurrent requests batched.

One worker thread owns the models. Requests queue up; the worker takes the first, gathers more while they keep
arriving (a pause of `max_wait`, 20 ms, ends it; `max_gather`, 0.25 s, at most), and hands the group that shares a
model and sampling settings to the models, which decode it many rows at a time (`decoding.ContinuousBatch`: a row
that ends makes room for a waiting prompt; ``generate`` for a stream or stop strings) and hand each answer back as
soon as it is done. Evaluating a test set with a thread pool therefore costs a few batched calls, not one call per
prompt. LoRA adapters are loaded on demand onto the base model and kept (LRU).

The models themselves (`ChatModels`) live in a process of their own (`serving_process`), so releasing them gives
back torch's memory too.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from . import models
from .chat import end_token_ids, prompt_ids
from .decoding import ContinuousBatch, left_padded
from .serving_process import ModelProcess

_RELEASE = object()  # a message to the worker: drop the loaded models

# cache positions decoded at once, rows times width (`decoding.ContinuousBatch`): 8,192 is 190 MB of SmolLM2's keys
# and values in bfloat16, 23 KB a position
MAX_BATCH_TOKENS = 8 * 1024


@dataclass
class GenRequest:
    model: str
    base: str
    adapter: str | None  # adapter folder, None for the base model
    messages: list[dict[str, Any]]
    max_new_tokens: int = 256
    temperature: float = 1.0
    top_p: float = 1.0
    stop: list[str] = field(default_factory=list)
    seed: int | None = None
    stream: bool = False
    text: str | None = None  # a text to score (the completions endpoint's echo): its tokens' log-probabilities
    future: Future = field(default_factory=Future)
    pieces: queue.Queue[str | None] | None = None

    def size(self) -> int:
        """What a request weighs in a batch for ``generate`` (a stream, stop strings), in tokens: its text (about
        four characters a token) and the answer it may grow to. The models' memory grows with the batch's rows times
        their length (each row's cache), so long prompts batch fewer at a time (`_budgeted`)."""
        text = self.text if self.text is not None else "".join(str(m.get("content") or "") for m in self.messages)
        return len(text) // 4 + self.max_new_tokens

    def key(self) -> tuple:
        greedy = self.temperature == 0
        return (
            self.text is not None,
            self.base,
            self.adapter,
            greedy,
            None if greedy else self.temperature,
            None if greedy else self.top_p,
            self.seed,
            tuple(self.stop),
        )


@dataclass
class GenResult:
    text: str
    finish_reason: str  # "stop" or "length"
    prompt_tokens: int
    completion_tokens: int
    tokens: list[str] | None = None  # a scored text's tokens, and each one's log-probability given those before it
    token_logprobs: list[float] | None = None


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


class ChatModels:
    """Owns the loaded models, in the models' process (`serving_process.main`), and answers one batch at a time."""

    def __init__(
        self,
        threads: int | None = None,
        cpu_bf16: bool = True,
        max_adapters: int = 8,
        max_rows: int = 32,
        max_tokens: int = MAX_BATCH_TOKENS,
    ):
        self._threads, self._cpu_bf16, self.max_adapters = threads, cpu_bf16, max_adapters
        self.max_rows, self.max_tokens = max_rows, max_tokens
        self._device: models.Device | None = None
        self._bases: dict[str, tuple[Any, Any]] = {}  # name -> (model, tokenizer)
        self._adapters: dict[str, OrderedDict[str, str]] = {}  # base -> adapter folder -> adapter name

    @property
    def device(self) -> models.Device:
        if self._device is None:
            self._device = models.pick_device(self._threads, cpu_bf16=self._cpu_bf16)
        return self._device

    def _base(self, name: str):
        if name not in self._bases:
            self._bases[name] = models.load(name, self.device)
        return self._bases[name]

    def _with_adapter(self, base: str, adapter: str | None):
        """The model to run: the base model, or the base with this adapter active."""
        from peft import PeftModel

        model, tok = self._base(base)
        if adapter is None:
            return model, tok, (model.disable_adapter() if isinstance(model, PeftModel) else None)
        cache = self._adapters.setdefault(base, OrderedDict())
        if adapter not in cache:
            name = f"a{len(cache)}_{abs(hash(adapter)) % 10**8}"
            if isinstance(model, PeftModel):
                model.load_adapter(adapter, adapter_name=name)
            else:
                model = PeftModel.from_pretrained(model, adapter, adapter_name=name)
                model.eval()
                self._bases[base] = (model, tok)
            cache[adapter] = name
            if len(cache) > self.max_adapters:
                _, old = cache.popitem(last=False)
                model.delete_adapter(old)
        cache.move_to_end(adapter)
        model.set_adapter(cache[adapter])
        return model, tok, None

    def generate(
        self, batch: list[GenRequest], on_answer: Callable[[int, GenResult], None] | None = None
    ) -> list[GenResult]:
        """Requests that share a model and their sampling settings, each answer handed to `on_answer` (with its
        place in `batch`) as soon as it is done: many at a time (`decoding.ContinuousBatch`), within the batch
        budget; a stream or stop strings by ``generate``, a batch of them within the budget at a time."""
        import contextlib

        import torch

        first = batch[0]
        model, tok, ctx = self._with_adapter(first.base, first.adapter)
        answers: list[GenResult | None] = [None] * len(batch)

        def answered(k: int, result: GenResult) -> None:
            answers[k] = result
            if on_answer is not None:
                on_answer(k, result)

        if first.seed is not None:
            torch.manual_seed(first.seed)
        with ctx if ctx is not None else contextlib.nullcontext(), torch.no_grad():
            if first.text is not None:
                for k, r in enumerate(batch):
                    answered(k, _scored(model, tok, r.text))
            elif first.stream or first.stop:
                for part in _budgeted(batch, self.max_rows, self.max_tokens):
                    for k, result in zip(part, self._generate(model, tok, [batch[k] for k in part])):
                        answered(k, result)
            else:
                prompts = [prompt_ids(tok, r.messages) for r in batch]
                eos = sorted(end_token_ids(tok))
                decoder = ContinuousBatch(
                    model,
                    pad=tok.pad_token_id,
                    eos=set(eos),
                    max_rows=self.max_rows,
                    max_tokens=self.max_tokens,
                    row_multiple=models.row_multiple(model.dtype),
                    temperature=first.temperature,
                    top_p=first.top_p,
                )
                decoder.run(
                    prompts,
                    [r.max_new_tokens for r in batch],
                    lambda k, out: answered(k, _answer(out, batch[k], len(prompts[k]), tok, eos)),
                )
        return answers

    def _generate(self, model, tok, batch: list[GenRequest]) -> list[GenResult]:
        """A stream (pieces as they come) or rows that end at a stop string, by Hugging Face's `generate`."""
        prompts = [prompt_ids(tok, r.messages) for r in batch]
        # in half precision the CPU keeps a compiled kernel and a weight copy per matrix shape (see
        # models.HALF_PRECISION_ROWS): widths rounded up keep a long-lived engine from collecting them
        width = models.round_up(max(len(p) for p in prompts), models.row_multiple(model.dtype))
        ids, mask = left_padded(prompts, width, tok.pad_token_id, self.device.name)
        eos = sorted(end_token_ids(tok))
        kwargs = dict(input_ids=ids, attention_mask=mask, **_generation_settings(batch, tok, eos))
        out = _streamed(model, tok, batch[0], kwargs) if batch[0].stream else model.generate(**kwargs)
        generated = [row[width:] for row in out.tolist()]
        return [_answer(generated[k], r, len(prompts[k]), tok, eos) for k, r in enumerate(batch)]


def _budgeted(batch: list[GenRequest], max_rows: int, max_tokens: int) -> list[list[int]]:
    """The requests' places in `batch`, in parts of at most `max_rows` whose sizes (`GenRequest.size`) fit
    `max_tokens` (a part holds at least one)."""
    parts: list[list[int]] = []
    weight = 0
    for k, r in enumerate(batch):
        if parts and len(parts[-1]) < max_rows and weight + r.size() <= max_tokens:
            parts[-1].append(k)
            weight += r.size()
        else:
            parts.append([k])
            weight = r.size()
    return parts


def _scored(model, tok, text: str) -> GenResult:
    """A text's tokens and their log-probabilities under `model`, each given those before it and the first given the
    start of a text (the tokenizer's beginning token), so every token has one; one text at a time (the logits of a
    whole batch over a 49k vocabulary would take hundreds of MB), in float32 whatever the model's precision."""
    import torch

    ids = tok(text, add_special_tokens=False).input_ids
    if not ids:
        return GenResult(text, "length", 0, 0, [], [])
    start = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
    logits = model(input_ids=torch.tensor([[start, *ids]], device=model.device)).logits[0, :-1].float()
    picked = torch.log_softmax(logits, dim=-1).gather(1, torch.tensor(ids, device=model.device)[:, None])[:, 0]
    return GenResult(text, "length", len(ids), 0, [tok.decode([i]) for i in ids], picked.tolist())


def _generation_settings(batch: list[GenRequest], tok, eos: list[int]) -> dict[str, Any]:
    """`generate`'s keyword arguments for a batch: the longest answer asked for, greedy or sampled as the batch's
    requests all are, and their stop strings."""
    first = batch[0]
    greedy = first.temperature == 0
    kwargs: dict[str, Any] = dict(
        max_new_tokens=max(r.max_new_tokens for r in batch),
        pad_token_id=tok.pad_token_id,
        eos_token_id=eos,
        do_sample=not greedy,
    )
    if not greedy:
        kwargs.update(temperature=first.temperature, top_p=first.top_p)
    if first.stop:
        kwargs.update(stop_strings=first.stop, tokenizer=tok)
    return kwargs


def _streamed(model, tok, request: GenRequest, kwargs: dict[str, Any]):
    """`generate` on a thread of its own, its text put on the request's queue piece by piece as it comes (None at
    the end); returns the generated ids, or raises what generation raised."""
    from transformers import TextIteratorStreamer

    streamer = TextIteratorStreamer(tok, skip_prompt=True, skip_special_tokens=True)
    out_box: dict[str, Any] = {}

    def run() -> None:
        try:
            out_box["out"] = model.generate(streamer=streamer, **kwargs)
        except Exception as exc:  # noqa: BLE001 - raised below, on the engine's worker thread
            out_box["error"] = exc
            streamer.end()

    thread = threading.Thread(target=run)
    thread.start()
    for piece in streamer:
        if piece:
            request.pieces.put(piece)
    thread.join()
    request.pieces.put(None)
    if "error" in out_box:
        raise out_box["error"]
    return out_box["out"]


def _answer(generated: list[int], request: GenRequest, prompt_tokens: int, tok, eos: list[int]) -> GenResult:
    """One row of a batch's output as its request's answer: cut at its first end token, at its own token limit (the
    batch generated up to the longest one asked for) and at its first stop string, with why it finished."""
    n, ended = len(generated), False
    for j, token in enumerate(generated):
        if token in eos:
            n, ended = j, True
            break
    n = min(n, request.max_new_tokens)
    text = tok.decode(generated[:n], skip_special_tokens=True)
    hit_stop = False
    for stop in request.stop:
        cut = text.find(stop)
        if cut >= 0:
            text, hit_stop = text[:cut], True
    return GenResult(text, "stop" if ended or hit_stop else "length", prompt_tokens, n + (1 if ended else 0))
