"""Validate an OpenAI chat fine-tuning JSONL file: every rule, one streaming pass.

`validate_file` reads the file in chunks of lines, checks and tokenises each chunk
(in worker processes for big files, so two cores do twice the work), and merges
the chunk results: findings with physical line numbers, token counts, duplicate
fingerprints and quality signals. Memory holds a few numbers per example, never
the examples themselves, so a 100k-example file streams in flat memory.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import tokens
from ..hyperparams import MIN_EXAMPLES, OPENAI_MIN_EXAMPLES, RECOMMENDED_EXAMPLES, auto_epochs
from ..runtime.safe_files import RawLine, dump_json, iter_raw_lines, parse_json
from . import quality
from .dataset import check_preference, describe_json_error
from .findings import Finding, Report

MESSAGE_KEYS = frozenset({"role", "content", "name", "weight", "tool_calls", "tool_call_id", "function_call"})
EXAMPLE_KEYS = frozenset({"messages", "tools", "parallel_tool_calls", "functions"})
ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
RESERVED_TOKENS = (
    "<|endoftext|>",
    "<|endofprompt|>",
    "<|fim_prefix|>",
    "<|fim_middle|>",
    "<|fim_suffix|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|im_sep|>",
)
_PLAIN_ROLES = frozenset({"system", "developer", "user", "assistant"})  # roles the fast path may take


@dataclass(frozen=True)
class Rules:
    """What to check and where the lines are drawn."""

    model: str = tokens.DEFAULT_MODEL
    token_limit: int | None = None  # default: the model's limit
    long_example_tokens: int = 4096
    hard_min_examples: int = OPENAI_MIN_EXAMPLES  # fewer is always an error (OpenAI's minimum)
    min_examples: int = MIN_EXAMPLES  # fewer is an error unless allow_small
    recommended_examples: int = RECOMMENDED_EXAMPLES  # fewer is a warning
    allow_small: bool = False  # the explicit override for datasets of 10-99 examples
    near_duplicates: bool = True
    personal_data: bool = True
    fact_check: bool = True
    sample_head: int = 500  # diversity and fact scores: every example up to here ...
    sample_every: int = 100  # ... then every n-th one (1,500 examples of 100k estimate a share to +-2.5%)

    @property
    def limit(self) -> int:
        return tokens.token_limit(self.model, self.token_limit)


@dataclass
class _Chunk:
    """What a worker sends back for one chunk of lines: findings and a few numbers per example."""

    findings: list[Finding] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)  # per tokenised example
    indices: list[int] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    turns: list[int] = field(default_factory=list)
    usable: list[bool] = field(default_factory=list)
    exact: list[int] = field(default_factory=list)
    sig: np.ndarray | None = None
    systems: set = field(default_factory=set)
    bigrams: set = field(default_factory=set)
    bigram_total: int = 0
    fact: dict[int, float] = field(default_factory=dict)  # example index -> score
    examples: int = 0
    usable_count: int = 0
    flat: list[int] | None = field(default_factory=list)  # token ids for MinHash, laid end to end ...
    seq_lengths: list[int] | None = field(
        default_factory=list
    )  # ... one length per example; both dropped before returning


# --- one example ---------------------------------------------------------------------


class _Seen:
    """What the messages of one example add up to, as they are checked: its tokens, the roles it has, its texts."""

    __slots__ = (
        "total",
        "dedup_tokens",
        "issued",
        "has_system",
        "has_user",
        "has_assistant",
        "system_text",
        "user_texts",
        "texts",
        "last_role",
    )

    def __init__(self) -> None:
        self.total = tokens.TOKENS_REPLY_PRIMING
        self.dedup_tokens: list[int] = []  # the example's tokens but its system prompt's, for near duplicates
        self.issued: set[str] = set()  # the tool call ids the assistant has issued so far
        self.has_system = self.has_user = self.has_assistant = False
        self.system_text: str | None = None
        self.user_texts: list[str] = []
        self.texts: list[tuple[Any, str]] = []  # (role, text) of every text, for the scans
        self.last_role: Any = None

    def saw(self, role: Any, text: str | None) -> None:
        """A message of `role` (with its text, when it has one) is done."""
        if role == "system" or role == "developer":
            self.has_system = True
            if text is not None and self.system_text is None:
                self.system_text = text
        elif role == "user":
            self.has_user = True
            if text is not None:
                self.user_texts.append(text)
        elif role == "assistant":
            self.has_assistant = True
        self.last_role = role


class _ExampleChecker:
    """Checks one parsed example, appending findings; keeps per-chunk state small."""

    def __init__(self, rules: Rules):
        self.rules = rules
        self.limit = rules.limit
        self.enc = tokens.get_encoding(rules.model)
        self._small: dict[str, int] = {}
        self._role_len = {r: len(self.enc.encode_ordinary(r)) for r in ROLES}

    def _len_small(self, text: str) -> int:
        n = self._small.get(text)
        if n is None:
            n = len(self.enc.encode_ordinary(text))
            if len(self._small) < 4096:
                self._small[text] = n
        return n

    def check(self, obj: Any, line: int, index: int, out: _Chunk) -> None:
        """Every per-example rule on one parsed line, then its numbers into `out` (the report's statistics)."""
        f = out.findings
        n_before = len(f)

        def add(code: str, message: str, mi: int | None = None) -> None:
            f.append(Finding(code, message, line, index, mi))

        messages = self._messages(obj, add)
        if messages is None:
            return
        seen = _Seen()
        enc, role_len = self.enc.encode_ordinary, self._role_len
        for mi, m in enumerate(messages):
            # fast path: a plain {"role", "content"} text message, by far the most common shape
            if type(m) is dict and len(m) == 2 and type(m.get("content")) is str and m.get("role") in _PLAIN_ROLES:
                role, content = m["role"], m["content"]
                toks = enc(content)
                seen.total += tokens.TOKENS_PER_MESSAGE + role_len[role] + len(toks)
                seen.texts.append((role, content))
                if not content.strip():
                    add("missing_content", f"message {mi} ({role}) has empty content", mi)
                if role != "system" and role != "developer":
                    seen.dedup_tokens += toks
                seen.saw(role, content)
            else:
                self._message(m, mi, seen, add)
        self._example(messages, seen, add)
        self._record(messages, seen, index, line, out, has_error=any(x.severity == "error" for x in f[n_before:]))

    @staticmethod
    def _messages(obj: Any, add: Callable[..., None]) -> list | None:
        """The example's messages, after the checks of its own shape (an object, known keys, a non-empty list, valid
        tools); None when there is nothing further to check."""
        if not isinstance(obj, dict):
            add("data_type", f"expected a JSON object, got {type(obj).__name__}")
            return None
        extra = [k for k in obj if k not in EXAMPLE_KEYS] if len(obj) > 1 or "messages" not in obj else None
        if extra:
            add("unrecognized_example_key", f"unknown top-level key(s) {sorted(extra)} will be ignored")
        messages = obj.get("messages")
        if not isinstance(messages, list) or not messages:
            add(
                "missing_messages_list",
                '"messages" is missing' if messages is None else '"messages" must be a non-empty list',
            )
            return None
        tools = obj.get("tools")
        if tools is not None and not (
            isinstance(tools, list)
            and all(
                isinstance(t, dict)
                and t.get("type") == "function"
                and isinstance((t.get("function") or {}).get("name"), str)
                for t in tools
            )
        ):
            add("invalid_tool_call", '"tools" must be a list of {"type": "function", "function": {"name": ...}}')
        return messages

    def _message(self, m: Any, mi: int, seen: _Seen, add: Callable[..., None]) -> None:
        """Any message but a plain text one: its keys, role, content, weight, name and tool calls."""
        if not isinstance(m, dict):
            add("data_type", f"message {mi} must be a JSON object, got {type(m).__name__}", mi)
            seen.last_role = None
            return
        role = m.get("role")
        has_calls = bool(m.get("tool_calls") or m.get("function_call"))
        unknown = [k for k in m if k not in MESSAGE_KEYS]
        if unknown:
            add("message_unrecognized_key", f"unknown key(s) {sorted(unknown)} in message {mi}", mi)
        if role is None:
            add("message_missing_key", f'message {mi} has no "role"', mi)
        elif role not in ROLES:
            add("unrecognized_role", f"role {role!r} in message {mi} is not one of {sorted(ROLES)}", mi)
        if "content" not in m and not (role == "assistant" and has_calls):
            add("message_missing_key", f'message {mi} has no "content"', mi)
        seen.total += tokens.TOKENS_PER_MESSAGE
        if isinstance(role, str):
            seen.total += self._len_small(role)
        self._content(m, mi, role, has_calls, seen, add)
        self._other_keys(m, mi, role, seen, add)
        if role == "assistant" and m.get("tool_calls") is not None:
            seen.issued.update(self._check_tool_calls(m["tool_calls"], mi, add))
        if role in ("tool",):
            call_id = m.get("tool_call_id")
            if not isinstance(call_id, str) or call_id not in seen.issued:
                add(
                    "invalid_tool_call",
                    f"tool message {mi} answers tool_call_id {call_id!r}, which no earlier assistant call issued",
                    mi,
                )
        content = m.get("content")
        seen.saw(role, content if isinstance(content, str) else None)

    def _content(self, m: dict, mi: int, role: Any, has_calls: bool, seen: _Seen, add: Callable[..., None]) -> None:
        """A message's content: a text, null (only beside tool calls), or a list of text and image parts."""
        enc = self.enc.encode_ordinary
        content = m.get("content")
        if isinstance(content, str):
            if not content.strip() and not (role == "assistant" and has_calls):
                add("missing_content", f"message {mi} ({role}) has empty content", mi)
            toks = enc(content)
            seen.total += len(toks)
            if role not in ("system", "developer"):
                seen.dedup_tokens.extend(toks)
            seen.texts.append((role, content))
        elif content is None:
            if "content" in m and not (role == "assistant" and has_calls):
                add("missing_content", f"message {mi} ({role}) has null content", mi)
        elif isinstance(content, list):
            for part in content:
                ok = isinstance(part, dict) and (
                    (part.get("type") == "text" and isinstance(part.get("text"), str))
                    or (part.get("type") == "image_url" and role == "user" and isinstance(part.get("image_url"), dict))
                )
                if not ok:
                    add("invalid_content_type", f"message {mi} has a content part that is not text or an image_url", mi)
                    break
                if part.get("type") == "text":
                    toks = enc(part["text"])
                    seen.total += len(toks)
                    seen.dedup_tokens.extend(toks)
                    seen.texts.append((role, part["text"]))
            if not content and not (role == "assistant" and has_calls):
                add("missing_content", f"message {mi} ({role}) has an empty content list", mi)
        else:
            add("invalid_content_type", f"message {mi} content is {type(content).__name__}, not text", mi)

    def _other_keys(self, m: dict, mi: int, role: Any, seen: _Seen, add: Callable[..., None]) -> None:
        """The keys beside role and content: a weight (0 or 1, on assistant messages), and the tokens of the rest."""
        for key, value in m.items():
            if key in ("role", "content") or value is None:
                continue
            if key == "weight":
                if isinstance(value, bool) or value not in (0, 1):
                    add("invalid_weight", f"weight {value!r} in message {mi}: only 0 or 1 is allowed", mi)
                elif role != "assistant":
                    add("invalid_weight", f"weight is only allowed on assistant messages (message {mi} is {role})", mi)
                continue
            text = value if isinstance(value, str) else dump_json(value).decode()
            seen.total += len(self.enc.encode_ordinary(text))
            if key == "name":
                seen.total += tokens.TOKENS_PER_NAME

    def _example(self, messages: list, seen: _Seen, add: Callable[..., None]) -> None:
        """The rules on the example as a whole: an assistant answer last, repetition, reserved tokens, personal data,
        its length, and whether it has a system and a user message."""
        if not seen.has_assistant:
            add("example_missing_assistant_message", "no assistant message: there is nothing to learn")
        elif seen.last_role != "assistant":
            add(
                "last_message_not_assistant",
                f"the last message is from {seen.last_role!r}, not the assistant",
                len(messages) - 1,
            )
        for role, text in seen.texts:
            if len(text) >= 1000 and role == "assistant" and quality.is_repetitive(text):
                add("repetitive_text", "the assistant repeats the same phrase over and over")
        joined = "\n".join(t for _, t in seen.texts)
        if "<|" in joined:
            found = [t for t in RESERVED_TOKENS if t in joined]
            if found:
                add("reserved_token", f"contains reserved token(s) {found}")
        if self.rules.personal_data:
            pii = quality.find_personal_data(joined)
            if pii:
                kinds = ", ".join(k.replace("_", " ") for k in sorted({k for k, _ in pii}))
                add("personal_data", f"possible {kinds} found ({pii[0][1]})")
        total = seen.total
        if total > self.limit:
            add("too_many_tokens", f"{total:,} tokens, over the {self.limit:,}-token limit of {self.rules.model}")
        elif total > self.rules.long_example_tokens:
            add("long_example", f"{total:,} tokens (over {self.rules.long_example_tokens:,})")
        if not seen.has_system:
            add("no_system_message", "no system message")
        if not seen.has_user:
            add("no_user_message", "no user message")

    def _record(self, messages: list, seen: _Seen, index: int, line: int, out: _Chunk, *, has_error: bool) -> None:
        """The example's numbers for the report: tokens, turns, usability, its fingerprint for exact duplicates, its
        tokens for near duplicates, its system prompt, and (for a sample) the diversity and fact statistics."""
        out.lines.append(line)
        out.indices.append(index)
        out.tokens.append(seen.total)
        out.turns.append(len(messages))
        out.usable.append(not has_error)
        out.usable_count += not has_error
        canon = dump_json(messages, sort_keys=True)
        out.exact.append(int.from_bytes(hashlib.blake2b(canon, digest_size=8).digest(), "little"))
        out.flat += seen.dedup_tokens
        out.seq_lengths.append(len(seen.dedup_tokens))
        if seen.system_text is not None:
            out.systems.add(hashlib.blake2b(seen.system_text.encode(), digest_size=8).digest())
        r = self.rules
        if index < r.sample_head or index % r.sample_every == 0:
            # diversity and the fact score are statistics: a sample of examples estimates them
            for text in seen.user_texts:
                grams = quality.word_bigrams(text)
                out.bigram_total += len(grams)
                out.bigrams.update(grams)
            if r.fact_check:
                out.fact[index] = quality.fact_signals(messages).score

    @staticmethod
    def _check_tool_calls(calls: Any, mi: int, add: Callable[..., None]) -> list[str]:
        if not isinstance(calls, list) or not calls:
            add("invalid_tool_call", f"tool_calls in message {mi} must be a non-empty list", mi)
            return []
        ids = []
        for ci, call in enumerate(calls):
            fn = call.get("function") if isinstance(call, dict) else None
            problem = None
            if not isinstance(call, dict):
                problem = "is not an object"
            elif not isinstance(call.get("id"), str) or not call["id"]:
                problem = 'has no "id"'
            elif call.get("type") != "function":
                problem = 'must have type "function"'
            elif not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not fn["name"]:
                problem = 'needs "function" with a "name"'
            elif not isinstance(fn.get("arguments"), str):
                problem = 'needs "arguments" as a JSON string'
            else:
                try:
                    parse_json(fn["arguments"])
                except ValueError:
                    problem = '"arguments" is not valid JSON'
            if problem:
                add("invalid_tool_call", f"tool call {ci} in message {mi} {problem}", mi)
            else:
                ids.append(call["id"])
        return ids


# --- one chunk of lines (runs in a worker process) ---------------------------------------

_checker: _ExampleChecker | None = None


def _get_checker(rules: Rules) -> _ExampleChecker:
    global _checker
    if _checker is None or _checker.rules != rules:
        _checker = _ExampleChecker(rules)
    return _checker


def release_checker() -> None:
    """Drop this process's reused checker, and with it its hold on the tokenizer (see `tokens.release_encodings`)."""
    global _checker
    _checker = None


def check_lines(lines: list[RawLine], rules: Rules) -> _Chunk:
    """Check a chunk of raw lines; pure and picklable, so it runs in a worker process."""
    checker = _get_checker(rules)
    out = _Chunk()
    for raw in lines:
        out.examples += 1
        try:
            text = raw.data.decode("utf-8")
        except UnicodeDecodeError as exc:
            out.findings.append(
                Finding("invalid_encoding", f"byte {exc.start + 1} of the line is not valid UTF-8", raw.line, raw.index)
            )
            continue
        try:
            obj = parse_json(text)
        except ValueError as exc:
            out.findings.append(Finding("invalid_json", describe_json_error(exc, raw), raw.line, raw.index))
            continue
        checker.check(obj, raw.line, raw.index, out)
    if rules.near_duplicates:
        offsets = np.zeros(len(out.seq_lengths) + 1, dtype=np.int64)
        np.cumsum(out.seq_lengths, out=offsets[1:])
        out.sig = quality.minhash_signatures(np.array(out.flat, dtype=np.int64), offsets)
    out.flat = out.seq_lengths = None
    return out


def _chunks(raw: Iterable[RawLine], max_lines: int, max_bytes: int) -> Iterator[list[RawLine]]:
    batch: list[RawLine] = []
    size = 0
    for r in raw:
        batch.append(r)
        size += len(r.data)
        if len(batch) >= max_lines or size >= max_bytes:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _results(chunks: Iterator[list[RawLine]], rules: Rules, workers: int) -> Iterator[_Chunk]:
    """Chunk results in file order, with at most 2 x workers chunks in flight."""
    if workers <= 1:
        for c in chunks:
            yield check_lines(c, rules)
        return
    import multiprocessing as mp

    tokens.get_encoding(rules.model)  # load once; forked workers inherit it
    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        pending: deque = deque()
        for c in chunks:
            pending.append(pool.submit(check_lines, c, rules))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def default_workers(path: str | os.PathLike) -> int:
    """Worker processes: one per core for big files, none for small ones (start-up costs more)."""
    try:
        big = os.path.getsize(path) > 4 << 20
    except OSError:
        big = False
    return max(1, min(os.cpu_count() or 1, 8)) if big else 1


# --- the whole file ---------------------------------------------------------------------


def validate_file(
    path: str | os.PathLike,
    *,
    model: str | None = None,
    rules: Rules | None = None,
    workers: int | None = None,
    max_per_code: int | None = 10_000,
    chunk_lines: int = 1000,
) -> Report:
    """Validate a chat fine-tuning JSONL file and measure it; never raises on bad content.

    An unreadable path raises `OSError` (the caller's mistake, not the data's).
    """
    rules = rules or Rules()
    if model:
        rules = Rules(**{**rules.__dict__, "model": model})
    workers = default_workers(path) if workers is None else workers
    report = Report(path=str(path), model=rules.model, max_per_code=max_per_code)
    gathered = _Gathered()
    try:
        for chunk in _results(_chunks(iter_raw_lines(path), chunk_lines, 8 << 20), rules, workers):
            gathered.add(chunk, report)
        cat = gathered.arrays()
        near, copies = _report_duplicates(report, rules, cat, gathered.sig_file, gathered.sig_rows)
    finally:
        gathered.sig_file.close()
    _size_policy(report, rules)
    report.tokens = _token_summary(cat["tokens"], rules)
    _quality_summary(report, gathered, cat, len(near))
    report.per_example = {
        "line": cat["lines"],
        "tokens": cat["tokens"],
        "turns": cat["turns"],
        "usable": cat["usable"].astype(bool),
        "exact_duplicate": copies,  # a later exact copy of a usable example (the first one is not marked)
    }
    return report


PER_EXAMPLE = {
    "lines": np.int64,
    "indices": np.int64,
    "tokens": np.int64,
    "turns": np.int32,
    "usable": bool,
    "exact": np.uint64,
}


@dataclass
class _Gathered:
    """What the chunks' results add up to: the per-example arrays, the MinHash signatures (in a temporary file, not
    memory: a 100k-example file needs 13 MB of them, and the near-duplicate pass reads them back block by block),
    and the quality measures' sets."""

    parts: dict[str, list[np.ndarray]] = field(default_factory=lambda: {k: [] for k in PER_EXAMPLE})
    sig_file: Any = field(default_factory=lambda: tempfile.TemporaryFile(prefix="ftw-minhash-"))
    sig_rows: int = 0
    systems: set = field(default_factory=set)
    bigrams: set = field(default_factory=set)
    bigram_total: int = 0
    fact: dict[int, float] = field(default_factory=dict)

    def add(self, chunk, report: Report) -> None:
        report.extend(chunk.findings)
        report.examples += chunk.examples
        report.usable_examples += chunk.usable_count
        for key, dtype in PER_EXAMPLE.items():
            self.parts[key].append(np.asarray(getattr(chunk, key), dtype=dtype))
        if chunk.sig is not None:
            chunk.sig.tofile(self.sig_file)
            self.sig_rows += len(chunk.sig)
        self.systems |= chunk.systems
        self.bigrams |= chunk.bigrams
        self.bigram_total += chunk.bigram_total
        self.fact.update(chunk.fact)

    def arrays(self) -> dict[str, np.ndarray]:
        return {k: np.concatenate(v) if v else np.zeros(0, dtype=np.int64) for k, v in self.parts.items()}


def _quality_summary(report: Report, gathered: _Gathered, cat: dict[str, np.ndarray], near: int) -> None:
    """The report's quality block: duplicates, system prompts, diversity, turns, and the fact-versus-style verdict
    (a finding when the data looks like facts)."""
    fact = gathered.fact
    report.quality = {
        "exact_duplicates": report.counts.get("exact_duplicate", 0),
        "near_duplicates": near,
        "distinct_system_prompts": len(gathered.systems),
        "user_distinct_2": (
            round(quality.distinct_ratio(len(gathered.bigrams), gathered.bigram_total), 3)
            if gathered.bigram_total
            else None
        ),
        "sampled_examples": len(fact) if fact else None,
        "turns": _distribution(cat["turns"]),
    }
    verdict = quality.fact_verdict(list(fact.values())) if fact else None
    if verdict is None:
        return
    fact_idx = list(fact.keys())
    report.quality["fact_verdict"] = {
        "looks_like_facts": verdict.looks_like_facts,
        "share": verdict.share,
        "mean_score": verdict.mean_score,
        "sentence": verdict.sentence,
        "evidence_lines": [int(cat["lines"][np.searchsorted(cat["indices"], fact_idx[i])]) for i in verdict.evidence],
        "scored_examples": len(fact),
    }
    if verdict.looks_like_facts:
        report.add(Finding("looks_like_facts", verdict.sentence))


def _report_duplicates(
    report: Report, rules: Rules, cat: dict[str, np.ndarray], sig_file, sig_rows: int
) -> tuple[list, np.ndarray]:
    """Exact and near duplicates among the usable examples (a broken line is reported for its error);
    returns the near-duplicate pairs and which examples are later exact copies of an earlier one."""
    lines_arr, idx_arr = cat["lines"], cat["indices"]
    keep = np.flatnonzero(cat["usable"].astype(bool))
    first, later = quality.repeats(cat["exact"][keep])
    duplicate = np.zeros(len(keep), dtype=bool)
    duplicate[later] = True
    for f_, l_ in sorted(zip(first.tolist(), later.tolist()), key=lambda p: p[1]):
        report.add(
            Finding(
                "exact_duplicate",
                f"same as line {lines_arr[keep[f_]]}",
                int(lines_arr[keep[l_]]),
                int(idx_arr[keep[l_]]),
            )
        )
    near = []
    if rules.near_duplicates and sig_rows:
        sig_file.flush()
        sig = np.memmap(sig_file, dtype=np.uint16, mode="r", shape=(sig_rows, quality.NUM_PERM))
        near = [(keep[i], keep[j], s) for i, j, s in quality.near_duplicate_pairs(sig, skip=duplicate, rows=keep)]
        del sig
        for i, j, s in near:
            report.add(
                Finding(
                    "near_duplicate",
                    f"about {round(100 * s)}% similar to line {lines_arr[i]}",
                    int(lines_arr[j]),
                    int(idx_arr[j]),
                )
            )
    copies = np.zeros(len(lines_arr), dtype=bool)
    copies[keep[duplicate]] = True
    return near, copies


def _size_policy(report: Report, rules: Rules) -> None:
    n = report.examples
    if report.usable_examples == 0:
        what = "the file is empty" if n == 0 else f"all {n} example(s) have errors"
        report.add(Finding("empty_file", f"no usable training example: {what}"))
        if n == 0:
            return
    if n < rules.hard_min_examples:
        report.add(Finding("too_few_examples", f"{n} example(s): OpenAI requires at least {rules.hard_min_examples}"))
    elif n < rules.min_examples and not rules.allow_small:
        report.add(
            Finding(
                "too_few_examples",
                f"{n} examples: under {rules.min_examples} is refused by default (allow_small overrides)",
            )
        )
    elif n < rules.recommended_examples:
        report.add(Finding("small_dataset", f"{n} examples: 500-1,000 diverse examples usually work much better"))


def _distribution(arr: np.ndarray) -> dict[str, Any]:
    if arr.size == 0:
        return {"count": 0}
    return {
        "count": int(arr.size),
        "min": int(arr.min()),
        "mean": round(float(arr.mean()), 1),
        "p50": int(np.percentile(arr, 50)),
        "p95": int(np.percentile(arr, 95)),
        "max": int(arr.max()),
    }


def _token_summary(tok: np.ndarray, rules: Rules) -> dict[str, Any]:
    limit = rules.limit
    n = int(tok.size)
    epochs = auto_epochs(n)
    cost = tokens.estimate_cost(tok.tolist(), model=rules.model, epochs=epochs, limit=limit)
    return {
        "encoding": tokens.encoding_name(rules.model),
        "total": int(tok.sum()),
        "limit": limit,
        "over_limit": int((tok > limit).sum()),
        "per_example": _distribution(tok),
        "auto_epochs": epochs,
        "billable_tokens": cost.billable_tokens,
        "estimated_cost_usd": None if cost.usd is None else round(cost.usd, 2),
        "prices_as_of": cost.prices_as_of,
    }


def validate_examples(examples: Iterable[Mapping[str, Any]], **kwargs: Any) -> Report:
    """Validate in-memory examples (for notebooks and the engine) by the same rules."""

    from .dataset import write_jsonl

    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "examples.jsonl")
        write_jsonl(p, examples)
        report = validate_file(p, workers=1, **kwargs)
        report.path = "<memory>"
        return report


def validate_preference_file(
    path: str | os.PathLike, *, rules: Rules | None = None, max_per_code: int | None = 10_000
) -> Report:
    """Validate an OpenAI preference (DPO) JSONL file: every malformed line, with its line number; with `rules`,
    the size rule too (fewer than 100 pairs refused without the override), as for a training file."""
    report = Report(path=str(path), max_per_code=max_per_code)
    for raw in iter_raw_lines(path):
        report.examples += 1
        try:
            record = parse_json(raw.data)
        except UnicodeDecodeError as exc:
            report.add(
                Finding(
                    "invalid_encoding",
                    f"byte {exc.start + 1} of the line is not valid UTF-8",
                    raw.line,
                    report.examples - 1,
                )
            )
            continue
        except ValueError as exc:
            report.add(Finding("invalid_json", describe_json_error(exc, raw), raw.line, report.examples - 1))
            continue
        problems = check_preference(record)
        if problems:
            report.add(Finding("invalid_preference", "; ".join(problems), raw.line, report.examples - 1))
        else:
            report.usable_examples += 1
    if rules is not None:
        _size_policy(report, rules)
    elif report.usable_examples == 0:
        report.add(Finding("empty_file", "no usable preference record"))
    return report
