"""Retrieval for facts: BM25 finds the right island's document, the prompt carries it, a question that
matches nothing is answered "not found" without a model call, and the held-out questions group by what
the model was trained on."""

from types import SimpleNamespace as NS

import pytest

from ftwidgets.data.dataset import load_jsonl
from ftwidgets.data.split import split_examples
from ftwidgets.evaluation.evaluate import OutputCache, compare
from ftwidgets.evaluation.retrieval import (
    NOT_FOUND,
    DocumentIndex,
    admits_not_knowing,
    answer_with_retrieval,
    evaluate_with_retrieval,
    fact_table,
    question_items,
    questions_by_kind,
    with_context,
)
from ftwidgets.metrics import contains_answer

from .conftest import SAMPLES

SYSTEM = "You answer questions about islands."


class ReadingClient:
    """A model that answers with the first capital it can read in its prompt, and invents one otherwise."""

    def __init__(self):
        self.prompts = []
        self.chat = NS(completions=NS(create=self.create))

    def create(self, model, messages, **kw):
        self.prompts.append(messages)
        system = messages[0]["content"] if messages[0]["role"] == "system" else ""
        read = [w.split(".")[0] for w in system.split("Its capital is ")[1:]]
        text = f"The capital is {read[0]}." if read and model == "reader" else "The capital is Kelmor."
        return NS(choices=[NS(message=NS(content=text), finish_reason="stop")])


@pytest.fixture(scope="module")
def index():
    return DocumentIndex.from_jsonl(SAMPLES / "facts_documents.jsonl")


def test_bm25_finds_each_islands_document_from_a_reworded_question(index):
    questions = load_jsonl(SAMPLES / "facts_questions.jsonl")
    answerable = [q for q in questions if q["answer"] is not None]
    assert len(answerable) == 150 and len(index) == 50
    for q in answerable:
        best = index.search(q["question"], k=2)[0]
        assert q["answer"] in best.text, q["question"]
    assert all(index.search(q["question"]) == [] for q in questions if q["answer"] is None)


def test_the_passages_go_into_the_system_message_and_the_question_stays_last(index):
    passages = index.search("Which town is the seat of government on Vancormor?")
    messages = with_context([{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Q?"}], passages)
    assert [m["role"] for m in messages] == ["system", "user"] and messages[-1]["content"] == "Q?"
    assert messages[0]["content"].startswith(SYSTEM) and passages[0].text in messages[0]["content"]
    assert with_context([{"role": "user", "content": "Q?"}], passages)[0]["content"].startswith("Answer the question")


def test_retrieval_answers_from_the_documents_and_says_not_found_without_asking(index, tmp_path):
    records = [
        {"question": "Which town is the seat of government on Vancormor?", "answer": "Mormor"},
        {"question": "Which town is the seat of government on Zorvathqui?", "answer": None},
    ]
    items = question_items(records, SYSTEM)
    client = ReadingClient()
    answers = answer_with_retrieval(client, "reader", items, index, cache=OutputCache(tmp_path / "a.jsonl"))
    assert answers[0].text == "The capital is Mormor." and answers[1].text == NOT_FOUND
    assert len(client.prompts) == 1 and "Vancormor is an island" in client.prompts[0][0]["content"]


def test_three_systems_are_compared_on_the_same_items(index, tmp_path):
    records = [q for q in load_jsonl(SAMPLES / "facts_questions.jsonl") if "seat of government" in q["question"]]
    items = question_items(records[:12] + records[-2:], SYSTEM)  # 12 answerable, 2 about islands in no document
    evaluation = evaluate_with_retrieval(
        ReadingClient(), items, {"base": "base", "fine_tuned": "tuned"}, index, reader="reader", cache_dir=tmp_path
    )
    assert set(evaluation.outputs) == {"base", "fine_tuned", "retrieval"} and "BM25" in evaluation.models["retrieval"]
    table = fact_table(evaluation, ["trained"] * 12 + ["not in the documents"] * 2)
    assert table["retrieval right"].all() and not table["fine_tuned right"].any()
    assert list(table["kind"][:12]) == ["trained"] * 12  # the fine-tuned model's confident wrong answers first
    verdict = compare(evaluation.select(range(12)), [contains_answer()], baseline="fine_tuned", candidate="retrieval")
    result = verdict.results[0]
    assert (result.baseline, result.candidate, result.wins) == (0.0, 1.0, 12) and result.p_value < 0.001


def test_held_out_questions_group_by_what_the_model_trained_on():
    facts = load_jsonl(SAMPLES / "facts.jsonl")
    split = split_examples(facts, seed=42)
    groups = questions_by_kind(load_jsonl(SAMPLES / "facts_questions.jsonl"), split.train, split.test)
    assert len(split.train) >= 100  # the rules hold for the lesson's own fine-tune
    assert len(groups["trained"]) == len(split.train) and len(groups["not trained"]) == len(split.test)
    assert len(groups["not in the documents"]) == 10
    trained_prompts = {m["content"] for ex in split.train for m in ex["messages"]}
    assert all(q["asks"] in trained_prompts and q["question"] not in trained_prompts for q in groups["trained"])


def test_admitting_not_knowing_is_told_apart_from_an_invented_answer():
    assert admits_not_knowing("I don't know which island that is.")
    assert not admits_not_knowing("Zorvath was founded in 1732.")
