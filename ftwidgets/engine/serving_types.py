"""What the engine and its models' process say to each other about a chat request: the request (`GenRequest`) and
its answer (`GenResult`), and how much the models decode at once. A leaf: the engine's side (`serving`), the process
boundary (`serving_process`) and the models (`chat_models`) all import it, and it imports none of them.
"""

from __future__ import annotations

import queue
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

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
