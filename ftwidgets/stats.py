"""Honest comparisons on small test sets: paired bootstrap, McNemar's exact test, Wilson
intervals, agreement between reviewers, and a verdict sentence a person can read.

A 10% test split of 500 examples is 50 items; a bare accuracy difference there misleads.
Every comparison here is paired (the same items under both models) and reports an
interval and a p-value, so "better" means better beyond the noise.

    >>> round(mcnemar_exact([0] * 12, [1] * 10 + [0] * 2).p_value, 4)
    0.002
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float


@dataclass(frozen=True)
class BootstrapResult:
    """Mean difference ``b - a`` with a percentile confidence interval and a two-sided p-value."""

    delta: float
    low: float
    high: float
    p_value: float
    resamples: int
    confidence: float


def paired_bootstrap(
    a: Sequence[float], b: Sequence[float], *, resamples: int = 10_000, seed: int = 0, confidence: float = 0.95
) -> BootstrapResult:
    """Resample items (with replacement), keeping each item's pair of scores together."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.shape != y.shape or x.ndim != 1 or len(x) == 0:
        raise ValueError("paired_bootstrap needs two equally long, non-empty score lists")
    diff = y - x
    rng = np.random.default_rng(seed)
    n = len(diff)
    deltas = np.empty(resamples)
    chunk = max(1, 2_000_000 // n)
    for start in range(0, resamples, chunk):
        stop = min(resamples, start + chunk)
        idx = rng.integers(0, n, size=(stop - start, n))
        deltas[start:stop] = diff[idx].mean(axis=1)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(deltas, [alpha, 1 - alpha])
    observed = float(diff.mean())
    if np.allclose(diff, diff[0]):
        p = 1.0 if abs(observed) < 1e-12 else 0.0
    else:
        # share of resampled differences on the far side of zero, doubled (two-sided)
        p = min(1.0, 2 * min(float(np.mean(deltas <= 0)), float(np.mean(deltas >= 0))))
        p = max(p, 1 / resamples)
    return BootstrapResult(observed, float(low), float(high), p, resamples, confidence)


@dataclass(frozen=True)
class McNemarResult:
    """Discordant pairs (only ``a`` passed, only ``b`` passed) and the exact two-sided p-value."""

    a_only: int
    b_only: int
    p_value: float


def mcnemar_exact(a_pass: Sequence[float], b_pass: Sequence[float]) -> McNemarResult:
    """McNemar's exact test: under "no difference" each discordant pair is a fair coin flip."""
    if len(a_pass) != len(b_pass):
        raise ValueError("mcnemar_exact needs two equally long pass/fail lists")
    a_only = sum(1 for x, y in zip(a_pass, b_pass) if x and not y)
    b_only = sum(1 for x, y in zip(a_pass, b_pass) if y and not x)
    n = a_only + b_only
    if n == 0:
        return McNemarResult(0, 0, 1.0)
    k = min(a_only, b_only)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return McNemarResult(a_only, b_only, min(1.0, 2 * tail))


def wilson_interval(successes: int, n: int, *, z: float = 1.959964) -> Interval:
    """A share with its 95% Wilson interval (sound for small n and shares near 0 or 1).

    >>> iv = wilson_interval(8, 10); round(iv.low, 3), round(iv.high, 3)
    (0.49, 0.943)
    """
    if n == 0:
        return Interval(float("nan"), 0.0, 1.0)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half))


def cohen_kappa(first: Sequence[Hashable], second: Sequence[Hashable]) -> float:
    """Agreement of two reviewers on the same items, beyond what chance would give.

    >>> cohen_kappa(["y"] * 20 + ["y"] * 5 + ["n"] * 10 + ["n"] * 15, ["y"] * 20 + ["n"] * 5 + ["y"] * 10 + ["n"] * 15)
    0.4
    """
    if len(first) != len(second) or not first:
        raise ValueError("cohen_kappa needs two equally long, non-empty label lists")
    n = len(first)
    observed = sum(a == b for a, b in zip(first, second)) / n
    ca, cb = Counter(first), Counter(second)
    expected = sum(ca[k] * cb[k] for k in ca) / (n * n)
    if expected == 1:
        return 1.0
    return round((observed - expected) / (1 - expected), 12)


def krippendorff_alpha(units: Sequence[Sequence[Hashable | None]]) -> float:
    """Krippendorff's alpha for nominal labels; ``units[i]`` holds each reviewer's label for item i
    (None where a reviewer did not label it). Any number of reviewers, missing labels allowed."""
    coincidence: Counter = Counter()
    for labels in units:
        present = [v for v in labels if v is not None]
        m = len(present)
        if m < 2:
            continue
        for i, j in ((i, j) for i in range(m) for j in range(m) if i != j):
            coincidence[(present[i], present[j])] += 1 / (m - 1)
    n_c: Counter = Counter()
    for (c, _k), v in coincidence.items():
        n_c[c] += v
    total = sum(n_c.values())
    if total <= 1:
        return float("nan")
    observed = sum(v for (c, k), v in coincidence.items() if c != k)
    expected = sum(n_c[c] * n_c[k] for c, k in combinations(n_c, 2)) * 2 / (total - 1)
    if expected == 0:
        return 1.0
    return 1 - observed / expected


def format_p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}" if p < 0.01 else f"p = {p:.2f}"


def verdict_sentence(
    metric: str,
    delta: float,
    low: float,
    high: float,
    p: float,
    *,
    candidate: str = "fine-tuned",
    points: bool = True,
    alpha: float = 0.05,
) -> str:
    """One plain sentence: who is better on what, by how much, how sure.

    >>> verdict_sentence("format compliance", 0.62, 0.55, 0.69, 0.0001)
    'fine-tuned is better on format compliance: +62 points, 95% CI [55, 69], p < 0.001'
    >>> verdict_sentence("answer accuracy", 0.02, -0.05, 0.09, 0.6)
    'no significant change in answer accuracy: +2 points, 95% CI [-5, 9], p = 0.60'
    """
    scale, unit = (100, " points") if points else (1, "")
    fmt = (lambda v: f"{v * scale:+.0f}") if points else (lambda v: f"{v:+.3f}")
    plain = (lambda v: f"{v * scale:.0f}") if points else (lambda v: f"{v:.3f}")
    detail = f"{fmt(delta)}{unit}, 95% CI [{plain(low)}, {plain(high)}], {format_p(p)}"
    if p < alpha and delta > 0:
        return f"{candidate} is better on {metric}: {detail}"
    if p < alpha and delta < 0:
        return f"{candidate} is worse on {metric}: {detail}"
    return f"no significant change in {metric}: {detail}"
