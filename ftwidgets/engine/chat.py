"""Chat messages as a model's template wants them, and the assistant-only training labels.

Both the trainer and the server render conversations through the tokenizer's own
chat template, so any causal LM with a template works, not only ChatML models.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

IGNORE = -100  # label of a token the loss skips


def normalize(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Plain {role, content: str} messages; content parts are joined, tool calls written out as JSON."""
    out = []
    for m in messages:
        content = m.get("content")
        if isinstance(content, list):
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        content = content or ""
        if m.get("tool_calls"):
            calls = [c.get("function", c) for c in m["tool_calls"] if isinstance(c, dict)]
            content = (content + "\n" if content else "") + json.dumps(calls, ensure_ascii=False)
        role = m.get("role") or "user"
        if role == "developer":
            role = "system"
        out.append({"role": role, "content": content, "weight": m.get("weight", 1)})
    return out


def end_token_ids(tok) -> set[int]:
    """Tokens that end a reply: the tokenizer's EOS and, where the vocabulary has it, ChatML's <|im_end|>."""
    ids = {tok.eos_token_id} if tok.eos_token_id is not None else set()
    # a lookup, not `get_vocab()`: that builds the whole 49,152-entry dict, 93% of encoding a training example
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    if im_end is not None and tok.convert_ids_to_tokens(im_end) == "<|im_end|>":  # unknown tokens map to <unk>
        ids.add(im_end)
    return ids


def render_ids(tok, messages: Sequence[Mapping[str, Any]], *, generation_prompt: bool = False) -> list[int]:
    msgs = [{"role": m["role"], "content": m["content"]} for m in messages]
    out = tok.apply_chat_template(msgs, tokenize=True, add_generation_prompt=generation_prompt, return_dict=True)
    return list(out["input_ids"])


def encode_example(tok, messages: Sequence[Mapping[str, Any]], max_len: int) -> tuple[list[int], list[int]]:
    """input_ids and labels that train on every assistant reply (with its end token) and nothing else.

    A reply with ``weight: 0`` is context only. Each reply's span is found by rendering
    the conversation up to it with and without the generation prompt, so the labels
    follow whatever template the tokenizer has.
    """
    msgs = normalize(messages)
    ids: list[int] = []
    labels: list[int] = []
    end_ids = end_token_ids(tok)
    for i, m in enumerate(msgs):
        upto = render_ids(tok, msgs[: i + 1])
        if upto[: len(ids)] != ids:  # template is not prefix-stable: fall back to the last reply only
            return _last_reply_only(tok, msgs, max_len)
        if m["role"] == "assistant":
            prompt = render_ids(tok, msgs[:i], generation_prompt=True)
            if upto[: len(prompt)] != prompt:
                return _last_reply_only(tok, msgs, max_len)
            span = upto[len(prompt) :]
            # learn the reply and its end token, not the newline a template puts after it
            keep = len(span)
            while keep > 0 and span[keep - 1] not in end_ids and not tok.decode(span[keep - 1 : keep]).strip():
                keep -= 1
            train = m["weight"] != 0
            labels += [IGNORE] * (len(prompt) - len(ids))
            labels += (span[:keep] if train else [IGNORE] * keep) + [IGNORE] * (len(span) - keep)
        else:
            labels += [IGNORE] * (len(upto) - len(ids))
        ids = upto
    return ids[:max_len], labels[:max_len]


def _last_reply_only(tok, msgs: list[dict[str, Any]], max_len: int) -> tuple[list[int], list[int]]:
    full = render_ids(tok, msgs)
    prompt = render_ids(tok, msgs[:-1], generation_prompt=True)
    labels = [IGNORE] * len(prompt) + full[len(prompt) :]
    if msgs[-1].get("weight", 1) == 0:
        labels = [IGNORE] * len(full)
    return full[:max_len], labels[:max_len]


def prompt_ids(tok, messages: Sequence[Mapping[str, Any]]) -> list[int]:
    """The conversation so far plus the assistant generation prompt (for serving)."""
    return render_ids(tok, normalize(messages), generation_prompt=True)


def label_pieces(tok, messages: Sequence[Mapping[str, Any]], max_len: int) -> tuple[list[tuple[str, bool]], int, int]:
    """An example as the trainer sees it: its tokens, rendered through the chat template, in runs of text marked
    trained or not (`encode_example`'s labels), with the counts of trained and of all tokens."""
    ids, labels = encode_example(tok, messages, max_len)
    pieces: list[tuple[str, bool]] = []
    run: list[int] = []
    state = None
    for token, label in zip(ids, labels):
        trained = label != IGNORE
        if state is not None and trained != state:
            pieces.append((tok.decode(run), state))
            run = []
        run.append(token)
        state = trained
    if run:
        pieces.append((tok.decode(run), bool(state)))
    return pieces, sum(label != IGNORE for label in labels), len(ids)
