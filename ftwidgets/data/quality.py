"""Is the data worth training on? Duplicates, diversity, personal data, facts versus style.

Near duplicates use MinHash over token 5-gram shingles with LSH banding, vectorised
with numpy so a 100k-example file costs seconds. The fact-versus-style score is a
transparent heuristic, not a model: each example gets a score from signals a reader
can check (a short answer to a who/what/when question, proper nouns and figures the
prompt did not contain), and the dataset verdict names the examples that drove it.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# --- near duplicates: MinHash + LSH ---------------------------------------------------

SHINGLE = 5  # tokens per shingle
NUM_PERM = 64  # MinHash bins per example (one-permutation hashing: one hash per shingle)
BANDS = 16  # LSH bands of NUM_PERM // BANDS bins
NEAR_DUP_THRESHOLD = 0.8  # estimated Jaccard similarity that counts as a near duplicate
EMPTY = np.uint16(0xFFFF)  # a bin no shingle fell into
# signatures keep 16 bits of each bin's minimum: two different minimums look equal with
# probability 1/65,535, far below the estimator's own noise, at half the memory of 32 bits

_P = np.array([0x9E3779B97F4A7C15**k % 2**64 for k in range(1, SHINGLE + 1)], dtype=np.uint64)
_BIN_SHIFT = np.uint64(64 - (NUM_PERM - 1).bit_length())


def _mix64(z: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: turns a weak polynomial hash into well-spread bits."""
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def minhash_signatures(tokens: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """One-permutation MinHash signatures (n, NUM_PERM) uint16 of n token sequences laid end to end.

    ``tokens[offsets[i]:offsets[i+1]]`` is sequence i; its shingles are its token
    5-grams (a shorter sequence is one shingle). Each shingle is hashed once, its top
    bits pick a bin and the minimum per bin is kept: the cost is one pass, not one
    per permutation. Bins no shingle reached hold `EMPTY`.
    """
    n = len(offsets) - 1
    sig = np.full((n, NUM_PERM), EMPTY, dtype=np.uint16)
    total = len(tokens)
    if n == 0 or total == 0:
        return sig
    t = tokens.astype(np.uint64) + np.uint64(1)
    lengths = np.diff(offsets)
    h = np.zeros(total, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in range(min(SHINGLE, total)):
            h[: total - k] += t[k:] * _P[k]
    seq = np.repeat(np.arange(n), lengths)
    starts = np.arange(total)
    valid = starts + np.minimum(SHINGLE, lengths)[seq] <= offsets[1:][seq]
    for i in np.flatnonzero((lengths > 0) & (lengths < SHINGLE)):  # rare: hash the whole short sequence
        a, b = offsets[i], offsets[i + 1]
        with np.errstate(over="ignore"):
            h[a] = np.sum(t[a:b] * _P[: b - a])
    z = _mix64(h[valid])
    bins = (z >> _BIN_SHIFT).astype(np.int64)
    vals = z & np.uint64(0xFFFFFFFE)  # never the "no shingle" marker below
    mins = np.full(n * NUM_PERM, 0xFFFFFFFF, dtype=np.uint64)
    np.minimum.at(mins, seq[valid] * NUM_PERM + bins, vals)
    filled = mins != 0xFFFFFFFF
    sig.reshape(-1)[filled] = np.minimum(mins[filled] >> np.uint64(16), 0xFFFE).astype(np.uint16)  # never EMPTY
    return sig


def signature_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Estimated Jaccard similarity of signature rows: equal bins among bins either one filled."""
    filled = (a != EMPTY) | (b != EMPTY)
    same = (a == b) & filled
    return same.sum(axis=-1) / np.maximum(1, filled.sum(axis=-1))


def band_key(sig: np.ndarray, band: int) -> np.ndarray:
    """One 64-bit key per example for one LSH band: equal keys make candidates.

    A band with no filled bin gets a key of its own, so short examples do not all collide.
    One band at a time keeps the temporary arrays small for 100k-example files.
    """
    rows = NUM_PERM // BANDS
    s = sig[:, band * rows : (band + 1) * rows].astype(np.uint64)
    key = np.zeros(len(sig), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for r in range(rows):
            key = _mix64(key + s[:, r] + np.uint64(r + 1))
    empty = np.all(s == np.uint64(EMPTY), axis=1)
    unique = (np.arange(len(sig), dtype=np.uint64) * np.uint64(BANDS) + np.uint64(band)) | np.uint64(1 << 63)
    return np.where(empty, unique, key & np.uint64((1 << 63) - 1))


def repeats(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(first, later): positions of every value seen before, each paired with the value's first position."""
    if len(values) < 2:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    order = np.argsort(values, kind="stable")
    start = np.r_[True, values[order][1:] != values[order][:-1]]
    leader = order[np.maximum.accumulate(np.where(start, np.arange(len(values)), 0))]
    later = np.flatnonzero(~start)
    return leader[later], order[later]


def near_duplicate_pairs(
    sig: np.ndarray,
    threshold: float = NEAR_DUP_THRESHOLD,
    skip: np.ndarray | None = None,
    rows: np.ndarray | None = None,
    block: int = 8192,
) -> list[tuple[int, int, float]]:
    """Pairs (earlier, later, similarity) whose estimated Jaccard is at least ``threshold``.

    ``rows`` picks the signature rows to compare (default: all); returned positions
    index into ``rows``. ``sig`` may be a memory-mapped file: it is read one block of
    rows at a time, one band at a time, so only one key per row is ever in memory.
    Each later example is paired with the earliest example it collides with, so the
    cost stays linear even when many examples share a template. Rows flagged in
    ``skip`` (exact duplicates) are never reported as the later one.
    """
    rows = np.arange(len(sig)) if rows is None else np.asarray(rows)
    n = len(rows)
    if n < 2:
        return []
    best: dict[int, tuple[int, float]] = {}
    for b in range(BANDS):
        keys = np.concatenate([band_key(np.asarray(sig[rows[s : s + block]]), b) for s in range(0, n, block)])
        earlier, later = repeats(keys)
        for s in range(0, len(later), block):  # templated data collide a lot: compare in blocks
            e, l_ = earlier[s : s + block], later[s : s + block]
            sims = signature_similarity(np.asarray(sig[rows[l_]]), np.asarray(sig[rows[e]]))
            for i, j, sim in zip(e.tolist(), l_.tolist(), sims.tolist()):
                if sim >= threshold and (skip is None or not skip[j]):
                    if j not in best or i < best[j][0]:
                        best[j] = (i, sim)
    return sorted((i, j, s) for j, (i, s) in best.items())


# --- personal data and secrets ------------------------------------------------------

PERSONAL_DATA = re.compile(
    r"(?P<email>[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})"
    r"|(?P<api_key>\b(?:sk-(?:proj-)?[A-Za-z0-9_-]{20,}|AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{30,}"
    r"|xox[abprs]-[A-Za-z0-9-]{10,}|AIza[0-9A-Za-z_-]{35}|hf_[A-Za-z0-9]{30,}))"
    r"|(?P<phone>(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)[ .-]?|\d{2,4}[ .-])\d{3,4}[ .-]\d{3,4}(?![\w]))"
)


# cheap necessary conditions, checked first so clean text costs a few fast scans
def _has_key_hint(t: str) -> bool:
    """An '@' or an API-key prefix; spelled out because a loop over the prefixes costs twice as much."""
    return (
        "@" in t
        or "sk-" in t
        or "AKIA" in t
        or "gh" in t
        and ("ghp_" in t or "gho_" in t or "ghu_" in t or "ghs_" in t or "ghr_" in t)
        or "xox" in t
        or "AIza" in t
        or "hf_" in t
    )


_PHONE_HINT = re.compile(r"[ .)-]\d{3,4}[ .-]\d")


def find_personal_data(text: str) -> list[tuple[str, str]]:
    """(kind, redacted match) for e-mail addresses, phone numbers and API-key-like strings."""
    if not _has_key_hint(text) and not _PHONE_HINT.search(text):
        return []
    out = []
    for m in PERSONAL_DATA.finditer(text):
        kind = m.lastgroup or "unknown"
        value = m.group(0)
        out.append((kind, value[:3] + "…" if len(value) > 4 else "…"))
    return out


# --- diversity ------------------------------------------------------------------------

_WORD = re.compile(r"[A-Za-z0-9']+")


def word_bigrams(text: str) -> list[int]:
    """Stable 32-bit hashes of the lower-cased word bigrams of a text (same in every process)."""
    words = _WORD.findall(text.lower())
    return [zlib.crc32(f"{a} {b}".encode()) for a, b in zip(words, words[1:])]


def is_repetitive(text: str, min_chars: int = 1000, ratio: float = 0.08) -> bool:
    """True for long text that compresses to almost nothing: a phrase pasted over and over."""
    if len(text) < min_chars:
        return False
    raw = text.encode()
    return len(zlib.compress(raw, 1)) / len(raw) < ratio


def distinct_ratio(unique: int, total: int) -> float:
    """distinct-n: unique n-grams over all n-grams (1.0 = no repetition)."""
    return unique / total if total else 0.0


# --- fact versus style ------------------------------------------------------------------

FACT_THRESHOLD = 0.5  # per-example score at which an example looks like a fact to memorise
FACT_SHARE = 0.4  # share of such examples at which the dataset is judged "teaching facts"

_WH = re.compile(
    r"^\s*(?:what|who|whom|whose|when|where|which|how (?:many|much|long|old|tall|far|big)|in what|in which"
    r"|name|tell me|give me|list)\b",
    re.I,
)
_TOKEN = re.compile(r"[A-Za-z][A-Za-z'\-]*|\d[\d,.]*|[^\sA-Za-z\d]")
_STOP = frozenset(
    """a an the and or but if of in on at to for from by with as is are was were be been being it its it's
    this that these those there here i you he she we they me him her us them my your his our their what which who
    when where why how not no yes do does did so than then too very can will just also into about over after before
    step answer you're it's i'm that's there's let's don't can't won't isn't great good yes sure ok okay""".split()
)
_ARITH = set("+-*/=×÷")
_LABELS = frozenset({":", "step", "part", "item", "no", "number", "line", "#"})


@dataclass(frozen=True)
class FactSignals:
    score: float
    question: float
    brevity: float
    entities: int
    ungrounded: float


def fact_signals(messages: Sequence[Mapping[str, Any]]) -> FactSignals:
    """Score one example between 0 (style, format, reasoning) and 1 (a fact to memorise)."""
    answer = ""
    prompt_parts = []
    question = ""
    for m in messages:
        if not isinstance(m, dict):
            continue
        content = m.get("content")
        if not isinstance(content, str):
            continue
        if m.get("role") == "assistant":
            answer = content
        else:
            prompt_parts.append(content)
            if m.get("role") == "user":
                question = content
    if not answer:
        return FactSignals(0.0, 0.0, 0.0, 0, 0.0)
    prompt_words = {w.lower() for w in _TOKEN.findall(" ".join(prompt_parts))}
    toks = _TOKEN.findall(answer)
    words = [t for t in toks if t[0].isalnum()]
    n_words = max(1, len(words))
    brevity = 1.0 if n_words <= 20 else 0.5 if n_words <= 40 else 0.0
    q = 1.0 if _WH.search(question) else 0.5 if question.rstrip().endswith("?") else 0.0
    entities = 0
    sentence_start = True
    for i, tok in enumerate(toks):
        if tok in ".!?:\n":
            sentence_start = True
            continue
        if not tok[0].isalnum():
            continue
        low = tok.lower()
        if tok[0].isupper() and low not in _STOP and low not in prompt_words and low != "i":
            if not sentence_start or n_words <= 4:
                entities += 1
        elif tok[0].isdigit() and len(tok) > 1 and low not in prompt_words:
            # a figure, unless it is computed in an expression or labels a step or answer
            near = toks[max(0, i - 1) : i + 2]
            prev = toks[i - 1].lower() if i else ""
            if not any(x in _ARITH for x in near) and prev not in _LABELS:
                entities += 1
        sentence_start = False
    content = [w.lower() for w in words if w[0].isalpha() and len(w) > 3 and w.lower() not in _STOP]
    ungrounded = sum(w not in prompt_words for w in content) / len(content) if content else 0.0
    ent_term = min(1.0, 5 * entities / n_words)
    shape = q * brevity  # a short answer to a who/what/when question
    # a fact is a short answer that brings names or figures the prompt did not hold;
    # a short computed answer ("45 x 7 = 315") has the shape but no such novelty
    score = 0.6 * shape * ent_term + 0.25 * shape + 0.15 * ungrounded * (brevity > 0)
    return FactSignals(round(min(1.0, score), 3), q, brevity, entities, round(ungrounded, 3))


@dataclass
class FactVerdict:
    looks_like_facts: bool
    share: float  # fraction of examples scoring at least FACT_THRESHOLD
    mean_score: float
    evidence: list[int] = field(default_factory=list)  # example indices that drove the verdict

    @property
    def sentence(self) -> str:
        pct = round(100 * self.share)
        if self.looks_like_facts:
            return (
                f"Looks like teaching facts ({pct}% of examples are short factual answers): "
                "fine-tuning will not reliably add knowledge; use retrieval (RAG) instead."
            )
        return f"Looks like teaching style or format ({pct}% fact-like examples): a good fit for fine-tuning."


def fact_verdict(scores: Sequence[float], *, top: int = 5) -> FactVerdict:
    """The dataset verdict from per-example scores, with the highest-scoring examples as evidence."""
    arr = np.asarray(scores, dtype=float)
    if arr.size == 0:
        return FactVerdict(False, 0.0, 0.0, [])
    share = float((arr >= FACT_THRESHOLD).mean())
    order = np.argsort(-arr, kind="stable")[:top]
    evidence = [int(i) for i in order if arr[i] >= FACT_THRESHOLD]
    return FactVerdict(share >= FACT_SHARE, round(share, 3), round(float(arr.mean()), 3), evidence)
