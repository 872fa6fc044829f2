"""The seeded, grouped 80/10/10 split, and the check that nothing leaks across it.

Examples that share a group key (and, by default, near-duplicate clusters) move
together, so the test set never holds a copy of a training example. Everything is
deterministic for a given seed, so a class gets the same split on every machine.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import tokens
from .._version import __version__
from ..runtime.safe_files import write_json_atomic
from . import quality
from .dataset import DataError, Example, load_jsonl, write_jsonl

SPLITS = ("train", "validation", "test")
DEFAULT_RATIOS = (0.8, 0.1, 0.1)

GroupKey = Callable[[Example], Any]


def first_user_message(example: Example) -> str:
    """Group examples that ask the same first question."""
    for m in example.get("messages") or []:
        if isinstance(m, dict) and m.get("role") == "user":
            return json.dumps(m.get("content"), sort_keys=True).strip().lower()
    return ""


def system_prompt(example: Example) -> str:
    for m in example.get("messages") or []:
        if isinstance(m, dict) and m.get("role") in ("system", "developer"):
            return str(m.get("content"))
    return ""


def _fingerprint(example: Example) -> str:
    return hashlib.sha256(json.dumps(example.get("messages"), sort_keys=True).encode()).hexdigest()


@dataclass
class Leak:
    kind: str  # "exact" or "near"
    a_split: str
    a_index: int
    b_split: str
    b_index: int
    similarity: float


@dataclass
class SplitResult:
    train: list[Example]
    validation: list[Example]
    test: list[Example]
    seed: int
    ratios: tuple[float, float, float]
    groups: int
    leaks: list[Leak] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)

    def parts(self) -> dict[str, list[Example]]:
        return {"train": self.train, "validation": self.validation, "test": self.test}

    @property
    def counts(self) -> dict[str, int]:
        return {k: len(v) for k, v in self.parts().items()}


def _content_signatures(examples: Sequence[Example]) -> np.ndarray:
    """MinHash signatures of the non-system text of each example (same scheme as validation)."""
    enc = tokens.get_encoding(tokens.DEFAULT_MODEL)
    seqs = []
    for ex in examples:
        toks: list[int] = []
        for m in ex.get("messages") or []:
            if (
                isinstance(m, dict)
                and m.get("role") not in ("system", "developer")
                and isinstance(m.get("content"), str)
            ):
                toks.extend(enc.encode_ordinary(m["content"]))
        seqs.append(toks)
    offsets = np.zeros(len(seqs) + 1, dtype=np.int64)
    np.cumsum([len(s) for s in seqs], out=offsets[1:])
    flat = np.fromiter((t for s in seqs for t in s), dtype=np.int64, count=int(offsets[-1]))
    return quality.minhash_signatures(flat, offsets)


def find_leaks(parts: Mapping[str, Sequence[Example]], *, near: bool = True) -> list[Leak]:
    """Exact and near duplicates that sit in two different splits."""
    names, items = [], []
    for name, exs in parts.items():
        for i, ex in enumerate(exs):
            names.append((name, i))
            items.append(ex)
    leaks: list[Leak] = []
    first: dict[str, tuple[str, int]] = {}
    exact_pairs = set()
    for (name, i), ex in zip(names, items):
        fp = _fingerprint(ex)
        if fp in first and first[fp][0] != name:
            leaks.append(Leak("exact", *first[fp], name, i, 1.0))
            exact_pairs.add((first[fp], (name, i)))
        first.setdefault(fp, (name, i))
    if near and len(items) > 1:
        sig = _content_signatures(items)
        for a, b, s in quality.near_duplicate_pairs(sig):
            na, nb = names[a], names[b]
            if na[0] != nb[0] and (na, nb) not in exact_pairs:
                leaks.append(Leak("near", na[0], na[1], nb[0], nb[1], round(s, 3)))
    return leaks


def fix_leaks(result: SplitResult) -> SplitResult:
    """Move every validation/test example that copies another split's example into train."""
    parts = {k: list(v) for k, v in result.parts().items()}
    move: dict[str, set[int]] = {"validation": set(), "test": set()}
    for leak in result.leaks:
        for split, index in ((leak.b_split, leak.b_index), (leak.a_split, leak.a_index)):
            if split != "train":
                move[split].add(index)
                break
    for split, idx in move.items():
        parts["train"] += [parts[split][i] for i in sorted(idx)]
        parts[split] = [ex for i, ex in enumerate(parts[split]) if i not in idx]
    fixed = SplitResult(
        parts["train"],
        parts["validation"],
        parts["test"],
        result.seed,
        result.ratios,
        result.groups,
        params={**result.params, "leaks_fixed": sum(len(v) for v in move.values())},
    )
    fixed.leaks = find_leaks(fixed.parts())
    return fixed


def _groups(examples: Sequence[Example], group_key: GroupKey | None, merge_near_duplicates: bool) -> list[int]:
    """A group id per example: same key, exact copy or (optionally) near copy -> same group."""
    parent = list(range(len(examples)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(i: int, j: int) -> None:
        ri, rj = find(i), find(j)
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)

    by_key: dict[Any, int] = {}
    for i, ex in enumerate(examples):
        for key in (("exact", _fingerprint(ex)),) + ((("key", group_key(ex)),) if group_key else ()):
            if key in by_key:
                union(i, by_key[key])
            else:
                by_key[key] = i
    if merge_near_duplicates and len(examples) > 1:
        for a, b, _ in quality.near_duplicate_pairs(_content_signatures(examples)):
            union(a, b)
    return [find(i) for i in range(len(examples))]


def split_examples(
    examples: Sequence[Example],
    *,
    seed: int = 42,
    ratios: tuple[float, float, float] = DEFAULT_RATIOS,
    group_key: GroupKey | str | None = None,
    stratify: GroupKey | str | None = None,
    merge_near_duplicates: bool = True,
) -> SplitResult:
    """Split into train/validation/test by ``ratios`` (80/10/10), deterministically for ``seed``.

    ``group_key`` keeps examples with the same key in one split ("first_user" groups by
    the first user message); ``stratify`` ("system" = by system prompt) keeps each
    stratum's proportions. Exact copies always share a group; near copies do too unless
    ``merge_near_duplicates=False`` (then `find_leaks` reports them).
    """
    if len(ratios) != 3 or any(r < 0 for r in ratios) or abs(sum(ratios) - 1) > 1e-6:
        raise DataError(f"ratios must be three non-negative numbers that sum to 1, got {ratios}")
    named = {"first_user": first_user_message, "system": system_prompt}
    gk = named.get(group_key, group_key) if isinstance(group_key, str) else group_key
    sk = named.get(stratify, stratify) if isinstance(stratify, str) else stratify
    if isinstance(gk, str) or isinstance(sk, str):
        raise DataError(f"unknown group or stratify name; use one of {sorted(named)} or a function")
    group_of = _groups(examples, gk, merge_near_duplicates)
    members: dict[int, list[int]] = defaultdict(list)
    for i, g in enumerate(group_of):
        members[g].append(i)
    strata: dict[Any, list[int]] = defaultdict(list)
    for g in members:
        strata[sk(examples[g]) if sk else None].append(g)

    rng = random.Random(seed)
    assigned: dict[str, list[int]] = {s: [] for s in SPLITS}
    for key in sorted(strata, key=lambda k: str(k)):
        groups = sorted(strata[key])
        rng.shuffle(groups)
        n = sum(len(members[g]) for g in groups)
        targets = [r * n for r in ratios]
        got = [0, 0, 0]
        for g in groups:
            size = len(members[g])
            # the split furthest below its target takes the group (ties: train first)
            k = max(range(3), key=lambda s: (targets[s] - got[s]) / (targets[s] or 1e-9) if targets[s] else -1e9)
            got[k] += size
            assigned[SPLITS[k]].extend(members[g])
    parts = {s: [examples[i] for i in sorted(idx)] for s, idx in assigned.items()}
    params = {
        "seed": seed,
        "ratios": list(ratios),
        "group_key": getattr(gk, "__name__", None) if gk else None,
        "stratify": getattr(sk, "__name__", None) if sk else None,
        "merge_near_duplicates": merge_near_duplicates,
    }
    result = SplitResult(
        parts["train"], parts["validation"], parts["test"], seed, tuple(ratios), len(members), params=params
    )
    result.leaks = find_leaks(parts)
    return result


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_split(
    result: SplitResult,
    out_dir: str | os.PathLike,
    *,
    source: str | os.PathLike | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Write train/validation/test.jsonl and manifest.json; refuses to overwrite unless asked."""
    out = Path(out_dir)
    names = [f"{s}.jsonl" for s in SPLITS] + ["manifest.json"]
    existing = [n for n in names if (out / n).exists()]
    if existing and not overwrite:
        raise DataError(f"{out} already holds {existing}; choose another folder or allow overwriting (--force)")
    protect = [source] if source else []
    files = {}
    for s, exs in result.parts().items():
        path = out / f"{s}.jsonl"
        write_jsonl(path, exs, overwrite=overwrite, protect=protect)
        files[s] = {"path": path.name, "examples": len(exs), "sha256": sha256_file(path)}
    manifest = {
        "kind": "ftwidgets.data.split",
        "package_version": __version__,
        "source": {"path": str(source), "sha256": sha256_file(source)} if source else None,
        "params": result.params,
        "counts": result.counts,
        "groups": result.groups,
        "files": files,
        "leaks": [asdict(leak) for leak in result.leaks],
    }
    write_json_atomic(out / "manifest.json", manifest, indent=2)
    return manifest


def split_file(
    path: str | os.PathLike, out_dir: str | os.PathLike, *, overwrite: bool = False, **kwargs: Any
) -> dict[str, Any]:
    """Read a JSONL file, split it and write the result; returns the manifest."""
    result = split_examples(load_jsonl(path), **kwargs)
    return write_split(result, out_dir, source=path, overwrite=overwrite)
