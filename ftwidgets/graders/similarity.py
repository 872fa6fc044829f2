"""``text_similarity``'s metrics, computed here: fuzzy_match, bleu, gleu, rouge_1 .. rouge_5 and rouge_l.

Words are lower-cased runs of letters and digits (`metrics`' tokens), so ``rouge_1`` is the token F1 and ``rouge_l``
the ROUGE-L that the sample tasks report. ``fuzzy_match`` is the character-level ratio of Python's `difflib`
(OpenAI's service may use another fuzzy ratio: its numbers can differ). ``bleu`` is sentence BLEU-4 with the brevity
penalty and add-one smoothing of the 2- to 4-gram precisions (Lin and Och, 2004); ``gleu`` is Google's sentence GLEU
(Wu et al., 2016). ``meteor`` needs WordNet's synonyms and ``cosine`` an embedding model, neither of which ships
here: they are refused by name rather than approximated.

    >>> round(similarity("rouge_1", "the cat sat", "the cat sat down"), 3)
    0.857
    >>> similarity("fuzzy_match", "colour", "colour")
    1.0
"""

from __future__ import annotations

import difflib
import math
from collections import Counter

from ..metrics import f_measure, lcs_length, word_tokens

SUPPORTED = ("fuzzy_match", "bleu", "gleu", "rouge_1", "rouge_2", "rouge_3", "rouge_4", "rouge_5", "rouge_l")
REFUSED = {
    "meteor": "meteor needs WordNet's synonyms, which do not ship with the embedded engine",
    "cosine": "cosine needs an embedding model, which the embedded engine does not serve",
}


def _ngrams(words: list[str], n: int) -> Counter:
    return Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))


def rouge_n(pred: list[str], ref: list[str], n: int) -> float:
    p, r = _ngrams(pred, n), _ngrams(ref, n)
    return f_measure(sum((p & r).values()), sum(p.values()), sum(r.values()))


def bleu(pred: list[str], ref: list[str], max_n: int = 4) -> float:
    if not pred or not ref:
        return float(pred == ref)
    logs = []
    for n in range(1, max_n + 1):
        p = _ngrams(pred, n)
        overlap, total = sum((p & _ngrams(ref, n)).values()), sum(p.values())
        if n > 1:  # add-one smoothing keeps a short answer's score above zero
            overlap, total = overlap + 1, total + 1
        if overlap == 0 or total == 0:
            return 0.0
        logs.append(math.log(overlap / total))
    brevity = 1.0 if len(pred) > len(ref) else math.exp(1 - len(ref) / len(pred))
    return brevity * math.exp(sum(logs) / max_n)


def gleu(pred: list[str], ref: list[str], max_n: int = 4) -> float:
    p = sum((_ngrams(pred, n) for n in range(1, max_n + 1)), Counter())
    r = sum((_ngrams(ref, n) for n in range(1, max_n + 1)), Counter())
    overlap, n_pred, n_ref = sum((p & r).values()), sum(p.values()), sum(r.values())
    if n_pred == 0 or n_ref == 0:
        return float(n_pred == n_ref == 0)
    return min(overlap / n_pred, overlap / n_ref)


def similarity(metric: str, text: str, reference: str) -> float:
    """One ``text_similarity`` score in [0, 1]; a ValueError names a metric that is not computed here."""
    if metric in REFUSED:
        raise ValueError(REFUSED[metric])
    if metric == "fuzzy_match":
        return difflib.SequenceMatcher(None, text, reference, autojunk=False).ratio()
    pred, ref = word_tokens(text), word_tokens(reference)
    if metric == "bleu":
        return bleu(pred, ref)
    if metric == "gleu":
        return gleu(pred, ref)
    if metric == "rouge_l":
        return f_measure(lcs_length(pred, ref), len(pred), len(ref))
    if metric.startswith("rouge_") and metric[6:].isdigit() and 1 <= int(metric[6:]) <= 5:
        return rouge_n(pred, ref, int(metric[6:]))
    raise ValueError(f"unknown evaluation_metric {metric!r}: use one of {', '.join(SUPPORTED)}")
