"""Early stopping on the engine, through the official client: a real job stops, says so, and keeps its best model."""

import random
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest

from ftwidgets.metrics import format_compliance

from .conftest import upload, wait_for

TOPICS = [
    "the sea",
    "a storm",
    "the moon",
    "old maps",
    "a parrot",
    "the harbour",
    "a lantern",
    "the wind",
    "gold coins",
    "a rope",
    "the deck",
    "a compass",
    "the crew",
    "a cannon",
    "the island",
    "a sail",
    "the tide",
    "a bottle",
    "the captain",
    "a shark",
]
ASKS = [
    "Tell me about {}.",
    "What do you think of {}?",
    "Describe {} in a sentence.",
    "Say something about {}.",
    "Why does {} matter?",
]
STYLE = r"^Ahoy! .* Arr!$"


def pirate(seed: int, n: int) -> list[dict]:
    """A simple style: every answer opens with "Ahoy!" and closes with "Arr!" (a small model learns it in minutes)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        topic, ask = rng.choice(TOPICS), rng.choice(ASKS)
        answer = f"Ahoy! {topic.capitalize()} be number {rng.randint(1, 999)} on me list, matey. Arr!"
        out.append(
            {
                "messages": [
                    {"role": "system", "content": "You are a pirate."},
                    {"role": "user", "content": f"{ask.format(topic)} ({i})"},
                    {"role": "assistant", "content": answer},
                ]
            }
        )
    return out


def test_a_bad_patience_is_a_400(client):
    f = upload(client, pirate(1, 120))
    with pytest.raises(openai.BadRequestError) as e:
        client.fine_tuning.jobs.create(
            model="smollm2-135m-instruct",
            training_file=f.id,
            metadata={"early_stopping": "true", "early_stopping_patience": "soon"},
        )
    assert e.value.status_code == 400 and "early_stopping_patience" in e.value.body["message"]


def test_early_stopping_without_a_validation_file_warns(client):
    f = upload(client, pirate(2, 120))
    job = client.fine_tuning.jobs.create(
        model="smollm2-135m-instruct", training_file=f.id, metadata={"early_stopping": "true"}
    )
    wait_for(client, job.id, statuses=("queued", "running", "succeeded", "failed"), timeout=120)
    client.fine_tuning.jobs.cancel(job.id)
    warnings = [e.message for e in client.fine_tuning.jobs.list_events(job.id, limit=100) if e.level == "warn"]
    assert any("Early stopping needs a validation file" in m for m in warnings), warnings


@pytest.mark.slow
def test_a_three_epoch_job_stops_early_and_keeps_its_best_model(client):
    train, valid = upload(client, pirate(3, 400)), upload(client, pirate(4, 40), "valid.jsonl")
    job = client.fine_tuning.jobs.create(
        model="smollm2-135m-instruct",
        training_file=train.id,
        validation_file=valid.id,
        hyperparameters={"n_epochs": 3, "batch_size": 4},
        seed=5,
        metadata={"early_stopping": "true"},
    )
    job = wait_for(client, job.id, timeout=1800)
    assert job.status == "succeeded", job.error
    events = list(client.fine_tuning.jobs.list_events(job.id, limit=100))  # every page
    steps = [e.data["step"] for e in events if e.type == "metrics"]
    stop = [e.message for e in events if e.message.startswith("Stopped early")]
    assert stop and "of 300 planned" in stop[0] and max(steps) <= 150, (stop, max(steps))
    kept = [e.message for e in events if e.message.startswith("The fine-tuned model is the one from step")]
    best_step = int(kept[0].split("step ")[1].split(",")[0])
    ckpts = client.fine_tuning.jobs.checkpoints.list(job.id).data
    losses = {e.data["step"]: e.data["valid_loss"] for e in events if e.type == "metrics" and "valid_loss" in e.data}
    assert best_step in [c.step_number for c in ckpts] and best_step == min(losses, key=losses.get)  # the lowest loss
    style = format_compliance(STYLE)

    def answer(prompt: dict) -> str:
        reply = client.chat.completions.create(
            model=job.fine_tuned_model, messages=prompt["messages"][:-1], max_tokens=40, temperature=0
        )
        return reply.choices[0].message.content

    with ThreadPoolExecutor(8) as pool:  # asked together, answered in one batch by the engine
        answers = list(pool.map(answer, pirate(99, 8)))
    assert sum(style.score(a, "", {}) for a in answers) >= 6, answers  # its model speaks the style on held-out prompts
