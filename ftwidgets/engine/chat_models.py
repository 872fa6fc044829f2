"""The loaded chat models (`ChatModels`), in the models' own process (`serving_process.main` imports this module;
the engine never does): base models, LoRA adapters loaded on demand and kept (LRU), and each group of requests
decoded many rows at a time (`decoding.ContinuousBatch`; ``generate`` for a stream or stop strings).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from . import models
from .chat import end_token_ids, prompt_ids
from .decoding import ContinuousBatch, left_padded
from .serving_types import MAX_BATCH_TOKENS, GenRequest, GenResult


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
