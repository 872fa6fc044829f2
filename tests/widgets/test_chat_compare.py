"""ChatCompare, the playground, against a real engine: every model answers the typed prompt, streamed, as the chat
API answers at temperature 0; a model that cannot answer says so in its own box; "Add to review" queues the pair
for step 6's blind review, apart from the test split."""

from ftwidgets.review.review_store import queued_items
from ftwidgets.widgets import ChatCompare

BASE = "smollm2-135m-instruct"
PROMPT = "What is 2 + 3?"


def test_send_returns_when_every_answer_is_in_and_add_to_review_queues_the_pair(client, tmp_path):
    queue = tmp_path / "queue.jsonl"
    compare = ChatCompare(client, models=[BASE, BASE], labels=["base", "fine-tuned"], review_queue=queue, max_tokens=16)
    assert compare.review_button.disabled  # nothing to add before an answer
    answers = compare.send(PROMPT)
    direct = (
        client.chat.completions.create(
            model=BASE, messages=[{"role": "user", "content": PROMPT}], temperature=0, max_tokens=16
        )
        .choices[0]
        .message.content
    )
    assert answers == {BASE: direct} and compare.texts == [direct, direct] and direct.strip()
    assert all(direct[:8] in box.value.replace("&#x27;", "'") for box in compare.boxes)
    assert not compare.send_button.disabled and not compare.review_button.disabled
    compare.review_button.click()
    compare.add_to_review()  # pressed twice: one pair per prompt
    [item] = queued_items(queue)
    assert item.prompt == PROMPT and item.answers == {"base": direct, "fine_tuned": direct} and item.reference == ""
    assert "Added" in compare.message.value and compare.review_button.disabled


def test_a_model_that_cannot_answer_says_so_and_the_others_answer(client, tmp_path):
    compare = ChatCompare(
        client, models=[BASE, "ft:does-not-exist"], review_queue=tmp_path / "queue.jsonl", max_tokens=8
    )
    compare.send("Say hi.")
    assert BASE in compare.answers and "ft:does-not-exist" in compare.errors
    assert "does not exist" in compare.boxes[1].value and compare.review_button.disabled


def test_an_empty_prompt_asks_for_one(client):
    compare = ChatCompare(client, models=[BASE])
    assert compare.send("   ") == {} and "Type a prompt first" in compare.message.value
