"""Retrieval for facts: search the documents with BM25 and put what is found in the prompt.

Fine-tuning teaches a model a style or a format; facts belong in documents that the model
reads at question time. This is the smallest honest version of that (retrieval-augmented
generation): `DocumentIndex` ranks documents with BM25 (the `bm25s` library, English
stop words removed), `with_context` writes the best passages into the prompt, and
`answer_with_retrieval` answers test items that way through any OpenAI-compatible
client. When no document matches a question at all, it answers `NOT_FOUND` without asking
the model, rather than letting it guess.

    >>> index = DocumentIndex([{"id": "a", "text": "Velmora's capital is Oranthe."},
    ...                        {"id": "b", "text": "Tasquin exports saffron."}])
    >>> [p.id for p in index.search("What is the capital of Velmora?")]
    ['a']
    >>> index.search("Who founded Zorvath?")
    []
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .evaluate import EvalItem, Evaluation, Generation, OutputCache, evaluate, generate, prompt_key

NOT_FOUND = "Not found in the documents."
_ADMITS = re.compile(
    r"not found|don't know|do not know|no information|not sure|cannot find|can't find|unknown|"
    r"no (?:island|record)|does not exist|doesn't exist",
    re.I,
)
CONTEXT_PROMPT = (
    "Answer the question using only the passages below. Answer in one short sentence.\n\nPassages:\n{passages}"
)


@dataclass(frozen=True)
class Passage:
    id: str
    text: str
    score: float


class DocumentIndex:
    """A BM25 index over short documents (``{"id", "text"}`` mappings, or plain strings)."""

    def __init__(self, documents: Sequence[Mapping[str, Any] | str]):
        import bm25s

        self.documents = [
            {"id": str(i), "text": d} if isinstance(d, str) else {"id": str(d.get("id", i)), "text": d["text"]}
            for i, d in enumerate(documents)
        ]
        if not self.documents:
            raise ValueError("no documents to index")
        self._bm25 = bm25s.BM25()
        self._bm25.index(
            bm25s.tokenize([d["text"] for d in self.documents], stopwords="en", show_progress=False),
            show_progress=False,
        )

    @classmethod
    def from_jsonl(cls, path: str | os.PathLike) -> DocumentIndex:
        from ..data.dataset import load_jsonl

        return cls(load_jsonl(path))

    def __len__(self) -> int:
        return len(self.documents)

    def search(self, query: str, k: int = 2) -> list[Passage]:
        """The (at most) `k` best documents for `query`, best first; none that shares no word with it."""
        import bm25s

        tokens = bm25s.tokenize([query], stopwords="en", return_ids=False, show_progress=False)
        if not tokens[0]:
            return []
        found, scores = self._bm25.retrieve(tokens, k=min(k, len(self.documents)), show_progress=False)
        return [
            Passage(self.documents[i]["id"], self.documents[i]["text"], float(s))
            for i, s in zip(found[0], scores[0])
            if s > 0
        ]


def with_context(messages: Sequence[Mapping[str, Any]], passages: Sequence[Passage]) -> list[dict[str, Any]]:
    """The prompt with the passages placed in a system message (before the conversation's own messages)."""
    context = CONTEXT_PROMPT.format(passages="\n".join(f"- {p.text}" for p in passages))
    system = [m for m in messages if m.get("role") == "system"]
    rest = [dict(m) for m in messages if m.get("role") != "system"]
    own = "\n\n".join(m["content"] for m in system if isinstance(m.get("content"), str))
    return [{"role": "system", "content": f"{own}\n\n{context}" if own else context}, *rest]


def _question(item: EvalItem) -> str:
    return next((m["content"] for m in reversed(item.messages) if m.get("role") == "user"), "")


def answer_with_retrieval(
    client: Any,
    model: str,
    items: Sequence[EvalItem],
    index: DocumentIndex,
    *,
    cache: OutputCache,
    k: int = 2,
    **generate_kw: Any,
) -> list[Generation]:
    """Each item answered by `model` with the `k` best passages for its question in the prompt;
    `NOT_FOUND` for an item whose question matches no document (the model is not asked)."""
    found = [index.search(_question(item), k) for item in items]
    asked = [i for i, passages in enumerate(found) if passages]
    with_passages = [replace(items[i], messages=with_context(items[i].messages, found[i])) for i in asked]
    answers = dict(zip(asked, generate(client, model, with_passages, cache=cache, **generate_kw)))
    return [answers.get(i, Generation(NOT_FOUND)) for i in range(len(items))]


def question_items(records: Sequence[Mapping[str, Any]], system: str | None = None) -> list[EvalItem]:
    """Test items from ``{"question", "answer"}`` records (``answer`` None: nothing to find, the right
    reply is that it is not known); the record rides along as the item's example."""
    items = []
    for record in records:
        messages = ([{"role": "system", "content": system}] if system else []) + [
            {"role": "user", "content": record["question"]}
        ]
        items.append(EvalItem(prompt_key(messages), messages, record.get("answer") or "", dict(record)))
    return items


def evaluate_with_retrieval(
    client: Any,
    items: Sequence[EvalItem],
    models: Mapping[str, str],
    index: DocumentIndex,
    *,
    reader: str,
    cache_dir: str | os.PathLike,
    k: int = 2,
    on_progress: Callable[[str, int, int], None] | None = None,
    **generate_kw: Any,
) -> Evaluation:
    """`evaluate`'s answers from each of `models`, plus a ``"retrieval"`` system: `reader` answering with the
    documents' best passages in its prompt (same items, same cache, same generation settings). `on_progress`
    is `evaluate`'s: (system, answers in, answers asked)."""
    evaluation = evaluate(client, items, models, cache_dir=cache_dir, on_progress=on_progress, **generate_kw)
    cache = OutputCache(Path(cache_dir) / "answers.jsonl")
    progress = (lambda done, total: on_progress("retrieval", done, total)) if on_progress else None
    read = answer_with_retrieval(client, reader, items, index, cache=cache, k=k, on_progress=progress, **generate_kw)
    return Evaluation(
        list(items),
        {**evaluation.models, "retrieval": f"{reader} + BM25 over {len(index)} documents"},
        {**evaluation.outputs, "retrieval": read},
    )


def admits_not_knowing(answer: str) -> bool:
    """Whether an answer says it does not know (rather than inventing one).

    >>> admits_not_knowing(NOT_FOUND), admits_not_knowing("The capital of Zorvath is Kelmor.")
    (True, False)
    """
    return bool(_ADMITS.search(answer or ""))


def questions_by_kind(
    questions: Sequence[Mapping[str, Any]], trained: Sequence[Mapping[str, Any]], untrained: Sequence[Mapping[str, Any]]
) -> dict[str, list[dict[str, Any]]]:
    """Held-out questions (``{"question", "answer", "asks"}``; ``asks`` is the training-style prompt they
    reword) grouped by what the model saw: ``"trained"`` (the fact was in its training data),
    ``"not trained"`` (in the documents only), ``"not in the documents"`` (``answer`` is None);
    questions about neither group (e.g. the validation split's facts) are left out."""

    def prompts(examples: Sequence[Mapping[str, Any]]) -> set[str]:
        return {m["content"] for ex in examples for m in ex["messages"] if m.get("role") == "user"}

    seen, unseen = prompts(trained), prompts(untrained)
    groups: dict[str, list[dict[str, Any]]] = {"trained": [], "not trained": [], "not in the documents": []}
    for q in questions:
        kind = (
            "not in the documents"
            if q.get("answer") is None
            else "trained"
            if q.get("asks") in seen
            else "not trained"
            if q.get("asks") in unseen
            else None
        )
        if kind:
            groups[kind].append({**q, "kind": kind})
    return groups


def fact_table(evaluation: Evaluation, kinds: Sequence[str]):
    """One row per question: its kind, the reference, each system's answer and whether it is right (it holds
    the fact; for a question with no answer, it admits not knowing). The fine-tuned model's confident wrong
    answers come first: wrong, and not saying it does not know."""
    import pandas as pd

    from ..metrics import contains_answer

    fact = contains_answer()
    rows = []
    for i, (item, kind) in enumerate(zip(evaluation.items, kinds)):
        row: dict[str, Any] = {"kind": kind, "question": _question(item), "reference": item.reference or NOT_FOUND}
        for label in evaluation.outputs:
            answer = evaluation.outputs[label][i].text
            row[label] = answer
            row[f"{label} right"] = (
                fact.score(answer, item.reference, item.example) == 1.0
                if item.reference
                else admits_not_knowing(answer)
            )
        rows.append(row)
    table = pd.DataFrame(rows)
    if "fine_tuned" in evaluation.outputs:
        confident_wrong = ~table["fine_tuned right"] & ~table["fine_tuned"].map(admits_not_knowing)
        table = table.assign(_first=~confident_wrong).sort_values("_first", kind="stable").drop(columns="_first")
    return table.reset_index(drop=True)
