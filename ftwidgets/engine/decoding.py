"""A batch of answers generated token by token, each row leaving the batch as soon as it is done.

Hugging Face's `generate` runs every row of a batch until the longest is finished: in a batch of 32 sampled math
answers (median 80 tokens, the longest at the 160-token limit) half the rows' steps were spent on rows that had
already ended. Here a row that reaches an end token or its own token limit is dropped from the batch and from the
key-value cache (`DynamicCache.batch_select_indices`), so later steps cost only the rows still going.

A sampled token is drawn by the inverse of each row's cumulative distribution (one uniform number a row), the same
distribution as `torch.multinomial`, which on a CPU cost 28 ms a step for 32 rows over SmolLM2's 49,152 tokens
against 1.6 ms. Greedy answers are those of `generate`, token for token (tested).

The key-value cache has room for the whole answer from the start (`ReservedLayer`): Hugging Face's `DynamicCache`
copies every layer's keys and values into a new tensor at every step (`torch.cat`), which on a CPU was 74% of a
decoding step for 32 few-shot rows of 450 tokens.
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


def draw(scores, temperature: float, top_p: float):
    """One token per row of `scores` (logits, float32): the most likely at temperature 0, else sampled from the
    softmax at `temperature`, restricted to the nucleus `top_p` as Hugging Face's `TopPLogitsWarper` does."""
    import torch

    if temperature == 0:
        return scores.argmax(-1)
    scores = scores / temperature
    if top_p < 1.0:
        from transformers import TopPLogitsWarper

        scores = TopPLogitsWarper(top_p)(None, scores)
    cumulative = scores.softmax(-1).double().cumsum_(-1)
    u = torch.rand(scores.shape[0], 1, dtype=torch.float64, device=scores.device) * cumulative[:, -1:]
    return torch.searchsorted(cumulative, u, right=True).clamp_(max=scores.shape[-1] - 1)[:, 0]


@functools.cache
def _reserved_layer():
    """The layer class of `reserved_cache`, made on first use (the engine's own process never imports torch)."""
    from transformers.cache_utils import DynamicLayer

    class ReservedLayer(DynamicLayer):
        """A `DynamicLayer` whose keys and values are written in place into tensors with `room` positions free
        after those filled; attention gets a view of the positions filled so far."""

        def __init__(self, room: int) -> None:
            super().__init__()
            self.room, self.filled = room, 0

        def start(self, keys, values, room: int) -> None:
            """Hold `keys` and `values` (batch, heads, positions, dim) with `room` positions free after them."""
            b, h, n, d = keys.shape
            self.device, self.room, self.filled = keys.device, room, n
            self._keys = keys.new_zeros(b, h, n + room, d)
            self._values = values.new_zeros(b, h, n + room, values.shape[-1])
            self._keys[:, :, :n], self._values[:, :, :n] = keys, values
            self.keys, self.values = self._keys[:, :, :n], self._values[:, :, :n]
            self.is_initialized = True

        def adopt(self, keys, values, filled: int) -> None:
            """Hold these tensors, of which the first `filled` positions are filled."""
            self.device, self.filled, self.room = keys.device, filled, keys.shape[2] - filled
            self._keys, self._values = keys, values
            self.keys, self.values = keys[:, :, :filled], values[:, :, :filled]
            self.is_initialized = True

        def update(self, key_states, value_states, *args, **kwargs):
            if not self.is_initialized:
                self.start(key_states, value_states, self.room)
                return self.keys, self.values
            end = self.filled + key_states.shape[-2]
            if end > self._keys.shape[-2]:  # past the room: start again with more
                self.start(self.keys, self.values, key_states.shape[-2] + self.room)
            self._keys[:, :, self.filled : end] = key_states
            self._values[:, :, self.filled : end] = value_states
            self.filled = end
            self.keys, self.values = self._keys[:, :, :end], self._values[:, :, :end]
            return self.keys, self.values

        def batch_select_indices(self, indices) -> None:
            if self.is_initialized:
                self._keys, self._values = self._keys[indices], self._values[indices]
                self.keys, self.values = self._keys[:, :, : self.filled], self._values[:, :, : self.filled]

    return ReservedLayer


def reserved_cache(config: Any, room: int):
    """A `DynamicCache` for `config` whose plain layers keep `room` positions free after the prompt, so that
    decoding `room` tokens copies no layer's keys and values."""
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer

    cache = DynamicCache(config=config)
    layer = _reserved_layer()
    cache.layers = [layer(room) if type(old) is DynamicLayer else old for old in cache.layers]
    return cache


def left_padded(prompts: Sequence[Sequence[int]], width: int, pad: int, device: str):
    """The prompts as one (ids, attention mask) pair of `width` columns, padded on the left so that every row ends
    where generation starts."""
    import torch

    ids = torch.full((len(prompts), width), pad, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for k, p in enumerate(prompts):
        ids[k, width - len(p) :] = torch.tensor(p)
        mask[k, width - len(p) :] = 1
    return ids.to(device), mask.to(device)


SHARED_PREFIX_MIN = 64  # tokens: a shorter shared prefix (a system prompt) is read again with each prompt


def _common(a: Sequence[int], b: Sequence[int], most: int) -> int:
    n = 0
    while n < most and a[n] == b[n]:
        n += 1
    return n


def prefix_groups(prompts: Sequence[Sequence[int]]) -> list[tuple[int, int]]:
    """For each of the (sorted) prompts, its group and the prefix its group shares: neighbours that share at least
    `SHARED_PREFIX_MIN` tokens group together, each prompt keeping one token of its own (its prefill's logits).
    A prompt alone shares nothing (0)."""
    groups: list[list[int]] = []
    for k, p in enumerate(prompts):
        if (
            groups
            and _common(prompts[groups[-1][0]], p, min(len(p), len(prompts[groups[-1][0]])) - 1) >= SHARED_PREFIX_MIN
        ):
            groups[-1].append(k)
        else:
            groups.append([k])
    found: list[tuple[int, int]] = [(0, 0)] * len(prompts)
    for g, members in enumerate(groups):
        first = prompts[members[0]]
        shared = min(len(prompts[k]) for k in members) - 1
        for k in members[1:]:
            shared = _common(first, prompts[k], shared)
        for k in members:
            found[k] = (g, shared if len(members) > 1 else 0)
    return found


@dataclass
class _Rows:
    """The rows being decoded together: each row's request, whether it is still going, its attention mask over the
    cache's positions, the position of its last token, and the token it feeds next."""

    requests: list[int]
    going: list[bool]
    mask: Any
    last: Any
    tokens: Any
    cache: Any

    @property
    def filled(self) -> int:
        return self.mask.shape[1]

    def going_span(self):
        """The going rows' places, and the first cache column any of them uses (columns before it are padding)."""
        import torch

        places = torch.tensor([j for j, g in enumerate(self.going) if g], device=self.mask.device)
        used = self.mask[places].any(0).nonzero()
        return places, int(used[0]) if len(used) else self.filled


class ContinuousBatch:
    """Answers many prompts with at most `max_rows` rows (and `max_tokens` cache positions, rows times width) decoded
    at once. A row that ends stops counting at once and leaves the cache at the next rebuild, when waiting prompts
    take the free places: the batch stays full until the prompts run out, instead of running on with the rows that
    remain, one slow step at a time, until its longest answer is done.

    A prefix that a group of prompts shares (a few-shot prompt's system message and worked examples) is read once;
    each prompt's own tokens are read after a copy of its keys and values."""

    def __init__(
        self,
        model: Any,
        *,
        pad: int,
        eos: set[int],
        max_rows: int = 32,
        max_tokens: int = 8192,
        row_multiple: int = 1,
        temperature: float = 0.0,
        top_p: float = 1.0,
    ):
        self.model, self.pad, self.eos = model, pad, eos
        self.max_rows, self.max_tokens, self.row_multiple = max_rows, max_tokens, row_multiple
        self.temperature, self.top_p = temperature, top_p
        self.rebuilds = 0  # how often the rows were rebuilt (for tests)

    def run(
        self,
        prompts: Sequence[Sequence[int]],
        limits: Sequence[int],
        on_done: Callable[[int, list[int]], None] | None = None,
    ) -> list[list[int]]:
        """Each prompt's generated tokens (ending with its end token when it reached one; prompt k stops at
        ``limits[k]`` tokens), each handed to `on_done` as soon as it is finished. Call it under
        ``torch.no_grad()``."""
        self.prompts, self.limits, self.on_done = prompts, limits, on_done
        self.out: list[list[int]] = [[] for _ in prompts]
        # in the prompts' sorted order, those that share a prefix (a system prompt and worked examples) come
        # together, so each group's prefix is read once, held while its prompts join, and dropped after
        order = sorted(range(len(prompts)), key=lambda k: prompts[k])
        self.waiting = deque(order)
        self.group = dict(zip(order, prefix_groups([prompts[k] for k in order])))  # prompt -> (group, shared)
        self.prefixes: dict[int, Any] = {}
        rows: _Rows | None = None
        while rows is not None or self.waiting:
            rows = self._refill(rows)
            if rows is not None:
                rows = self._step(rows)
        return self.out

    # --- the rows -----------------------------------------------------------------
    def _refill(self, rows: _Rows | None) -> _Rows | None:
        """The rows with ended ones dropped and waiting prompts joined, when enough places are free to be worth a
        rebuild (a quarter of the rows, or no row left going)."""
        going = 0 if rows is None else sum(rows.going)
        ended = 0 if rows is None else len(rows.requests) - going
        if rows is not None and going and ended * 4 < len(rows.requests):
            return rows
        if rows is not None and not going and not self.waiting:
            return None
        joiners = self._joiners(rows)
        if rows is not None and not ended and not joiners:
            return rows
        self.rebuilds += 1
        parts = [] if rows is None or not going else [rows]
        if joiners:
            parts.extend(self._prefill(joiners))
        if len(parts) == 1 and all(parts[0].going):
            return parts[0]
        return self._merged(parts) if parts else None

    def _room(self, rows: Sequence[int]) -> int:
        return max((self.limits[k] - len(self.out[k]) for k in rows), default=0)

    def _joiners(self, rows: _Rows | None) -> list[int]:
        """Waiting prompts that fit beside the rows still going: places left, and rows times width within budget."""
        going = [] if rows is None else [k for k, g in zip(rows.requests, rows.going) if g]
        width = rows.filled - rows.going_span()[1] if going else 0
        joiners: list[int] = []
        while self.waiting and len(going) + len(joiners) < self.max_rows:
            k = self.waiting[0]
            wide = max(width, len(self.prompts[k])) + self._room([*going, *joiners, k])
            if (going or joiners) and (len(going) + len(joiners) + 1) * wide > self.max_tokens:
                break
            joiners.append(self.waiting.popleft())
            width = max(width, len(self.prompts[k]))
        return joiners

    def _take(self, rows: _Rows) -> None:
        """Each going row's new token; a row that reached an end token or its limit is done."""
        for j, (k, token) in enumerate(zip(rows.requests, rows.tokens.tolist())):
            if not rows.going[j]:
                continue
            self.out[k].append(token)
            if token in self.eos or len(self.out[k]) >= self.limits[k]:
                rows.going[j] = False
                if self.on_done is not None:
                    self.on_done(k, self.out[k])

    def _forward(self, ids, mask, positions, cache, keep: int | None = None):
        kwargs = {"logits_to_keep": keep} if keep else {}
        out = self.model(
            input_ids=ids, attention_mask=mask, position_ids=positions, cache=cache, use_cache=True, **kwargs
        )
        return draw(out.logits[:, -1].float(), self.temperature, self.top_p)

    def _step(self, rows: _Rows) -> _Rows:
        import torch

        rows.mask = torch.cat([rows.mask, rows.mask.new_ones(len(rows.requests), 1)], dim=1)
        rows.last = rows.last + 1
        rows.tokens = self._forward(rows.tokens[:, None], rows.mask, rows.last[:, None], rows.cache)
        self._take(rows)
        return rows

    # --- reading prompts -------------------------------------------------------------
    def _prefix(self, k: int):
        """The keys and values, layer by layer (one row), of the prefix prompt k's group shares; None if it shares
        none worth reading once, or the model's cache is not all plain layers."""
        import torch

        group, shared = self.group[k]
        if shared < SHARED_PREFIX_MIN:
            return None
        if group not in self.prefixes:
            self.prefixes.clear()  # the groups join in order: an earlier group's prefix is not needed again
            cache = reserved_cache(self.model.config, 0)
            if all(type(layer) is _reserved_layer() for layer in cache.layers):
                ids = torch.tensor([list(self.prompts[k][:shared])], device=self.model.device)
                self.model(input_ids=ids, cache=cache, use_cache=True, logits_to_keep=1)
                self.prefixes[group] = [(layer.keys, layer.values) for layer in cache.layers]
            else:
                self.prefixes[group] = None
        return self.prefixes[group]

    def _prefill(self, joiners: list[int]) -> list[_Rows]:
        """Joining prompts read as left-padded batches, one per prefix group (after a copy of its prefix); their
        first tokens drawn."""
        parts: dict[int, list[int]] = {}
        for k in joiners:  # prompts that share no prefix worth reading once are read together
            group, shared = self.group[k]
            parts.setdefault(group if shared >= SHARED_PREFIX_MIN else -1, []).append(k)
        return [self._prefill_group(members) for members in parts.values()]

    def _prefill_group(self, joiners: list[int]) -> _Rows:
        import torch

        from .models import round_up

        device = self.model.device
        prefix = self._prefix(joiners[0])
        start = 0 if prefix is None else prefix[0][0].shape[2]
        own = [self.prompts[k][start:] for k in joiners]
        width = round_up(max(len(p) for p in own), self.row_multiple)
        ids, mask = left_padded(own, width, self.pad, device)
        mask = torch.cat([mask.new_ones(len(own), start), mask], dim=1)  # the prefix's columns, every row's
        room = width + self._room(joiners)
        cache = reserved_cache(self.model.config, room)
        for layer, (keys, values) in zip(cache.layers, prefix or ()):
            b = len(own)
            layer.start(keys.expand(b, -1, -1, -1), values.expand(b, -1, -1, -1), room)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)[:, start:]
        tokens = self._forward(ids, mask, positions, cache, keep=1)
        rows = _Rows(list(joiners), [True] * len(joiners), mask, positions[:, -1], tokens, cache)
        self._take(rows)
        return rows

    def _merged(self, parts: list[_Rows]) -> _Rows:
        """The going rows of `parts` in one cache, right-aligned, the columns no going row uses dropped."""
        import torch

        picked = []
        for part in parts:
            idx, lo = part.going_span()
            picked.append((part, idx, lo, part.filled - lo))
        width = max(span for *_, span in picked)
        requests = [part.requests[j] for part, idx, *_ in picked for j in idx.tolist()]
        room = self._room(requests)
        mask = parts[0].mask.new_zeros(len(requests), width)
        cache = reserved_cache(self.model.config, room)
        for n, layer in enumerate(cache.layers):  # layer by layer, each old one freed once copied: no second cache
            olds = [part.cache.layers[n] for part in parts]
            h, d = olds[0].keys.shape[1], olds[0].keys.shape[-1]
            keys = olds[0].keys.new_zeros(len(requests), h, width + room, d)
            values = olds[0].values.new_zeros(len(requests), h, width + room, olds[0].values.shape[-1])
            row = 0
            for (part, idx, lo, span), old in zip(picked, olds):
                rows = slice(row, row + len(idx))
                keys[rows, :, width - span : width] = old.keys[idx, :, lo:]
                values[rows, :, width - span : width] = old.values[idx, :, lo:]
                old.keys = old.values = old._keys = old._values = None
                row += len(idx)
            layer.adopt(keys, values, width)
        row = 0
        for part, idx, lo, span in picked:
            mask[row : row + len(idx), width - span :] = part.mask[idx, lo:]
            row += len(idx)
        last = torch.cat([part.last[idx] for part, idx, *_ in picked])
        tokens = torch.cat([part.tokens[idx] for part, idx, *_ in picked])
        return _Rows(requests, [True] * len(requests), mask, last, tokens, cache)
