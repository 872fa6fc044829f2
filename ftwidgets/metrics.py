"""Scoring one model answer against the reference answer: pluggable metrics with built-ins.

A metric is a name, a kind and a function ``(prediction, reference, example) -> float``.
``kind="pass"`` metrics score 0 or 1 (and are compared with McNemar's exact test);
``kind="score"`` metrics score in [0, 1] (compared with a paired bootstrap). Bring your
own by wrapping any function in `Metric`.

    >>> exact_match().score("Step 1: 2+2=4\\nAnswer: 4", "Answer: 4.0", {})
    1.0
    >>> round(token_f1().score("the cat sat", "the cat sat down", {}), 3)
    0.857
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from re import Pattern
from typing import Any, Literal

Kind = Literal["pass", "score", "auto"]  # auto: pass when every score is 0 or 1 (a python grader's)
ScoreFn = Callable[[str, str, Mapping[str, Any]], float]

_ANSWER = re.compile(r"answer\s*(?:is)?\s*[:=]?\s*\**\s*(-?[\d,]*\.?\d+)", re.I)
_NUMBER = re.compile(r"-?\d[\d,]*\.?\d*|-?\.\d+")
_WORD = re.compile(r"\w+", re.U)


@dataclass(frozen=True)
class Metric:
    """One way of scoring an answer; ``kind`` decides which statistical test compares two models."""

    name: str
    kind: Kind
    fn: ScoreFn
    description: str = ""

    def score(self, prediction: str, reference: str, example: Mapping[str, Any]) -> float:
        return float(self.fn(prediction or "", reference or "", example))


def _normalise_number(text: str) -> str:
    text = text.replace(",", "")
    try:
        value = float(text)
    except ValueError:
        return text.strip()
    return str(int(value)) if value.is_integer() else repr(value)


def extract_final_answer(text: str) -> str | None:
    """The final answer in a text: the number after the last "Answer:", else the last number.

    >>> extract_final_answer("Step 2: 10+5=15\\nAnswer: 1,015")
    '1015'
    >>> extract_final_answer("no digits here") is None
    True
    """
    hits = _ANSWER.findall(text or "")
    if hits:
        return _normalise_number(hits[-1])
    numbers = _NUMBER.findall(text or "")
    return _normalise_number(numbers[-1]) if numbers else None


def exact_match(extract: Callable[[str], str | None] = extract_final_answer) -> Metric:
    """1 when the extracted final answers of the prediction and the reference are equal."""

    def fn(pred: str, ref: str, _ex: Mapping[str, Any]) -> float:
        got, want = extract(pred), extract(ref)
        return float(got is not None and got == want)

    return Metric("answer accuracy", "pass", fn, "the final answer equals the reference's")


# a worked sum as the math tutor writes them: "9+3+1=13", "527×6=3162", "15-4=11"
_WORKED_SUM = re.compile(r"(\d+(?:\s*[-+×x*]\s*\d+)+)\s*=\s*(\d+)")


def _sum_value(left: str) -> int:
    """The value of a worked sum's left side: products first, then sums and differences from left to right."""
    tokens = re.findall(r"\d+|[-+×x*]", left)
    terms, signs = [int(tokens[0])], []
    for op, number in zip(tokens[1::2], tokens[2::2]):
        if op in "×x*":
            terms[-1] *= int(number)
        else:
            signs.append(op)
            terms.append(int(number))
    return terms[0] + sum(t if op == "+" else -t for op, t in zip(signs, terms[1:]))


def correct_arithmetic(name: str = "correct arithmetic") -> Metric:
    """The share of the answer's worked sums that are right (0 when it shows none): a graded check of the steps,
    where the final answer alone is right or wrong.

    >>> correct_arithmetic().score("Ones: 5+7=12; Tens: 9+3+1=13; 527×6=3062", "", {})
    0.6666666666666666
    """

    def fn(pred: str, _ref: str, _ex: Mapping[str, Any]) -> float:
        found = _WORKED_SUM.findall(pred)
        return sum(_sum_value(left) == int(right) for left, right in found) / len(found) if found else 0.0

    return Metric(name, "score", fn, "the share of the worked sums in the answer that are right")


def format_compliance(check: str | Pattern[str] | Callable[[str], bool], name: str = "format compliance") -> Metric:
    """1 when the prediction has the expected format: a regex (searched) or a callable.

    >>> format_compliance(r"Answer: -?\\d+\\s*$").score("Answer: 12", "", {})
    1.0
    """
    if callable(check) and not isinstance(check, (str, re.Pattern)):
        test = check
    else:
        pattern = re.compile(check, re.S) if isinstance(check, str) else check

        def test(text: str) -> bool:
            return pattern.search(text) is not None

    return Metric(name, "pass", lambda pred, _ref, _ex: float(bool(test(pred))), "the answer has the expected format")


def word_tokens(text: str) -> list[str]:
    """Lower-cased runs of letters and digits: the words every overlap score here counts."""
    return _WORD.findall(text.lower())


def f_measure(overlap: float, n_pred: int, n_ref: int) -> float:
    """The harmonic mean of precision and recall from an overlap count (1 when both texts are empty)."""
    if overlap == 0 or n_pred == 0 or n_ref == 0:
        return float(n_pred == n_ref == 0)
    precision, recall = overlap / n_pred, overlap / n_ref
    return 2 * precision * recall / (precision + recall)


def token_f1() -> Metric:
    """Word overlap between prediction and reference (SQuAD-style F1 over lower-cased words)."""

    def fn(pred: str, ref: str, _ex: Mapping[str, Any]) -> float:
        p, r = word_tokens(pred), word_tokens(ref)
        overlap = sum((Counter(p) & Counter(r)).values())
        return f_measure(overlap, len(p), len(r))

    return Metric("token F1", "score", fn, "word overlap with the reference")


def lcs_length(a: list[str], b: list[str]) -> int:
    """Length of the longest common subsequence (the heart of ROUGE-L).

    >>> lcs_length("a b c d".split(), "a c d e".split())
    3
    """
    if len(a) < len(b):
        a, b = b, a
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b, 1):
            cur.append(prev[j - 1] + 1 if x == y else max(prev[j], cur[j - 1]))
        prev = cur
    return prev[-1]


def rouge_l() -> Metric:
    """ROUGE-L F-measure: the longest in-order run of shared words, as a share of both texts."""

    def fn(pred: str, ref: str, _ex: Mapping[str, Any]) -> float:
        p, r = word_tokens(pred), word_tokens(ref)
        return f_measure(lcs_length(p, r), len(p), len(r))

    return Metric("ROUGE-L", "score", fn, "longest common word sequence with the reference")


def contains_answer() -> Metric:
    """1 when the reference (a short answer: a name, a year) appears in the prediction as whole words, any case.

    >>> contains_answer().score("The capital of Velmora is Oranthe.", "Oranthe", {})
    1.0
    >>> contains_answer().score("It was founded in 17340.", "1734", {})
    0.0
    """

    def fn(pred: str, ref: str, _ex: Mapping[str, Any]) -> float:
        words = word_tokens(ref)
        return float(
            bool(words) and re.search(r"\b" + r"\W+".join(map(re.escape, words)) + r"\b", pred.lower()) is not None
        )

    return Metric("fact accuracy", "pass", fn, "the answer contains the reference fact")


def parse_json_object(text: str) -> dict[str, Any] | None:
    """The first JSON object in a text (a model may wrap it in words or a code fence), or None.

    >>> parse_json_object('Sure: {"category": "billing", "priority": "low"}')
    {'category': 'billing', 'priority': 'low'}
    """
    decoder = json.JSONDecoder()
    for start in (i for i, ch in enumerate(text or "") if ch == "{"):
        try:
            value, _ = decoder.raw_decode(text, start)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


def valid_json(keys: Sequence[str]) -> Metric:
    """1 when the whole answer is one JSON object holding every one of `keys` (nothing around it).

    >>> has_category = valid_json(["category"])
    >>> has_category.score('{"category": "billing"}', "", {}), has_category.score("billing", "", {})
    (1.0, 0.0)
    """

    def fn(pred: str, _ref: str, _ex: Mapping[str, Any]) -> float:
        try:
            value = json.loads(pred.strip())
        except ValueError:
            return 0.0
        return float(isinstance(value, dict) and all(k in value for k in keys))

    return Metric("valid JSON", "pass", fn, f"the answer is one JSON object with {', '.join(keys)}")


def json_fields_match(keys: Sequence[str], name: str = "label accuracy") -> Metric:
    """1 when the answer's JSON object has the reference's value for every one of `keys` (any case).

    >>> json_fields_match(["category", "priority"]).score('{"category": "Billing", "priority": "low"}',
    ...                                                  '{"category": "billing", "priority": "low"}', {})
    1.0
    """

    def fn(pred: str, ref: str, _ex: Mapping[str, Any]) -> float:
        got, want = parse_json_object(pred), parse_json_object(ref)
        if got is None or want is None:
            return 0.0
        return float(all(str(got.get(k, "")).strip().lower() == str(want.get(k, "")).strip().lower() for k in keys))

    return Metric(name, "pass", fn, f"{', '.join(keys)} equal the reference's")


JUDGE_RUBRIC = (
    "Rate the ASSISTANT ANSWER from 1 (useless) to 5 (excellent) for correctness and for following the "
    "instructions, using the REFERENCE ANSWER as a guide."
)
_SCORE = re.compile(r"\b([1-5])\b")


def llm_judge(client: Any, model: str, rubric: str = JUDGE_RUBRIC, *, name: str = "judge score") -> Metric:
    """An LLM rates each answer 1-5 with a rubric (any OpenAI-compatible model); scaled to [0, 1].

    An unparseable verdict scores 0 and is counted in ``judge.unparsed`` rather than hidden.
    """
    state = {"unparsed": 0}

    def fn(pred: str, ref: str, example: Mapping[str, Any]) -> float:
        prompt = [m for m in example.get("messages", []) if m.get("role") == "user"]
        question = prompt[-1]["content"] if prompt else ""
        reply = client.chat.completions.create(
            model=model,
            temperature=0,
            max_tokens=8,
            messages=[
                {"role": "system", "content": rubric + " Reply with the number only."},
                {
                    "role": "user",
                    "content": f"QUESTION:\n{question}\n\nREFERENCE ANSWER:\n{ref}\n\nASSISTANT ANSWER:\n{pred}",
                },
            ],
        )
        match = _SCORE.search(reply.choices[0].message.content or "")
        if not match:
            state["unparsed"] += 1
            return 0.0
        return (int(match.group(1)) - 1) / 4

    metric = Metric(name, "score", fn, f"rated 1-5 by {model}")
    object.__setattr__(metric, "judge", state)
    return metric


def default_metrics(format_check: str | Pattern[str] | Callable[[str], bool] | None = None) -> list[Metric]:
    """Answer accuracy, token F1, ROUGE-L, and format compliance when a format is given."""
    built = [exact_match(), token_f1(), rouge_l()]
    return ([format_compliance(format_check)] if format_check is not None else []) + built
