"""Preference tuning (DPO) on the engine: the loss by hand, the reference computed once, and jobs through the strict
client, on a tiny Llama (seconds) and, for what a learner would see, on the real SmolLM2."""

from __future__ import annotations

import json
import math
import random
import re
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest
import torch

from ftwidgets.data.dataset import make_preference
from ftwidgets.engine import models, start
from ftwidgets.engine.contract import JobFolder, TrainerSpec
from ftwidgets.engine.lora import LoraSettings
from ftwidgets.engine.preference import PreferenceRun, dpo_loss, encode_pair, sequence_logps
from ftwidgets.hyperparams import dpo_method

from .conftest import upload, wait_for
from .test_early_stopping_job import pirate

LORA = LoraSettings(r=4, alpha=8, dropout=0.0, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"])


def pirate_pairs(seed: int, n: int, worse: str = "Yo ho!") -> list[dict]:
    """The pirate answer is preferred to the same answer ending in `worse`."""
    return [
        make_preference(
            ex["messages"][:-1], ex["messages"][-1]["content"], ex["messages"][-1]["content"].replace("Arr!", worse)
        )
        for ex in pirate(seed, n)
    ]


def write(path, records) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return str(path)


def test_the_dpo_loss_equals_a_hand_computation(tiny_llama):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_llama)
    model = AutoModelForCausalLM.from_pretrained(tiny_llama, dtype=torch.float32).eval()
    pair = encode_pair(tok, pirate_pairs(1, 1)[0], 256)
    with torch.no_grad():
        ours = sequence_logps(model, [pair.chosen, pair.rejected], tok.pad_token_id, "cpu").tolist()
        by_hand = []
        for ids, labels in (pair.chosen, pair.rejected):  # every position's full softmax, then the labelled tokens' sum
            logp = model(input_ids=torch.tensor([ids])).logits[0].float().log_softmax(-1)
            by_hand.append(sum(float(logp[i - 1, labels[i]]) for i in range(1, len(ids)) if labels[i] != -100))
    assert ours == pytest.approx(by_hand, rel=1e-5)
    reference = (by_hand[0] + 0.7, by_hand[1] - 0.2)
    beta = 0.3
    t = lambda x: torch.tensor([x], dtype=torch.float64)  # noqa: E731 - log-probabilities of hundreds need doubles here
    loss, chosen, rejected = dpo_loss(t(ours[0]), t(ours[1]), t(reference[0]), t(reference[1]), beta)
    margin = beta * ((ours[0] - reference[0]) - (ours[1] - reference[1]))
    assert float(loss) == pytest.approx(math.log(1 + math.exp(-margin)), rel=1e-5)  # -log sigmoid(margin)
    assert float(chosen - rejected) == pytest.approx(margin, rel=1e-5)


def dpo_run(tiny_llama, tmp_path, name: str = "job", **changes) -> tuple[PreferenceRun, JobFolder]:
    """A DPO job's run on the tiny Llama: 24 training and 6 validation pirate pairs, 2 epochs of batch 4."""
    folder = JobFolder(tmp_path / name)
    folder.path.mkdir()
    spec = TrainerSpec(
        job_id="ftjob-dpo",
        base_model=str(tiny_llama),
        method="dpo",
        beta=0.1,
        training_path=write(tmp_path / "t.jsonl", pirate_pairs(1, 24)),
        validation_path=write(tmp_path / "v.jsonl", pirate_pairs(2, 6)),
        n_epochs=2,
        batch_size=4,
        learning_rate=2e-3,
        seed=1,
        threads=1,
        max_seq_len=256,
        lora=LORA,
        cpu_bf16=False,
        fine_tuned_model="ft:tiny:dpo",
    )
    return PreferenceRun(spec.model_copy(update=changes), folder), folder


def test_the_reference_is_the_starting_model_computed_once(tiny_llama, tmp_path):
    run, folder = dpo_run(tiny_llama, tmp_path)
    reference = [p.reference for p in run.train_data]
    base = run.model.get_base_model()
    with torch.no_grad(), run.model.disable_adapter():  # the starting model itself, scored apart
        alone = sequence_logps(
            base, [run.train_data[0].chosen, run.train_data[0].rejected], run.tok.pad_token_id, "cpu"
        )
    assert reference[0] == pytest.approx(tuple(alone.tolist()), rel=1e-5)
    outcome = run.run()
    assert (
        outcome.status == "succeeded" and run.reference_passes == 2
    )  # once for the training file, once for validation
    assert [p.reference for p in run.train_data] == reference  # never recomputed as the policy moved
    with torch.no_grad():
        moved = sequence_logps(
            run.model, [run.train_data[0].chosen, run.train_data[0].rejected], run.tok.pad_token_id, "cpu"
        )
    assert moved.tolist() != pytest.approx(list(reference[0]), rel=1e-4)
    metrics = [e["data"] for e in folder.events()[::-1] if e["type"] == "metrics"]  # oldest first
    assert {"train_loss", "train_reward_margin", "train_preference_accuracy"} <= set(metrics[0])
    assert metrics[-1]["step"] == 12 and metrics[-1]["full_valid_preference_accuracy"] is not None


def test_dpo_with_lora_on_the_top_layers_runs_the_frozen_layers_once(tiny_llama, tmp_path):
    """Each answer's frozen lower layers run once, in the reference pass, and are read back at every step and
    validation after it: the job's numbers are those of running every layer every time."""
    top = LORA.model_copy(update={"layers": 2})
    plain, _ = dpo_run(tiny_llama, tmp_path, "plain", lora=top, reuse_frozen_layers=False)
    fast, folder = dpo_run(tiny_llama, tmp_path, "fast", lora=top, reuse_frozen_layers=True)
    assert plain.prefix is None and fast.prefix is not None
    sequences = {tuple(ids) for p in fast.train_data + fast.valid_data for ids in (p.chosen[0], p.rejected[0])}
    assert (fast.prefix.computed, fast.prefix.reused) == (len(sequences), 0)  # the reference pass computed them
    flat = lambda run: [logp for p in run.train_data for logp in p.reference]  # noqa: E731
    assert flat(fast) == pytest.approx(flat(plain), rel=1e-5)
    prefix = fast.prefix
    assert plain.run().status == fast.run().status == "succeeded"
    assert prefix.computed == len(sequences) and prefix.reused > 0  # every later pass read them back
    assert not folder.frozen_prefix_file(0).exists()  # deleted with the job
    numbers = lambda run: [  # noqa: E731
        {k: v for k, v in row.items() if "loss" in k or "margin" in k} for row in run.rows
    ]
    for want, got in zip(numbers(plain), numbers(fast), strict=True):
        assert got == pytest.approx(want, rel=1e-4, abs=1e-6)


@pytest.fixture(scope="module")
def tiny_engine(tmp_path_factory, tiny_llama):
    handle = start(
        tmp_path_factory.mktemp("engine"),
        api_key="k",
        threads=1,
        base_models=(models.DEFAULT_BASE_MODEL, str(tiny_llama)),
    )
    yield handle, handle.client(max_retries=0, _strict_response_validation=True), str(tiny_llama)
    handle.stop()


def test_a_dpo_job_through_the_strict_client(tiny_engine):
    _, client, tiny = tiny_engine
    train, valid = upload(client, pirate_pairs(3, 120)), upload(client, pirate_pairs(4, 12), "valid.jsonl")
    method = dpo_method({"beta": 0.2, "n_epochs": 2, "batch_size": 8, "learning_rate_multiplier": "auto"})
    job = client.fine_tuning.jobs.create(
        model=tiny, training_file=train.id, validation_file=valid.id, method=method, seed=4
    )
    assert job.method.type == "dpo" and job.method.dpo.hyperparameters.beta == 0.2
    job = wait_for(client, job.id, timeout=600)
    assert job.status == "succeeded", job.error
    hp = job.method.dpo.hyperparameters
    assert (hp.beta, hp.n_epochs, hp.batch_size, hp.learning_rate_multiplier) == (
        0.2,
        2,
        8,
        1.0,
    )  # as sent, "auto" resolved
    events = list(client.fine_tuning.jobs.list_events(job.id, limit=100))
    metrics = [e.data for e in events if e.type == "metrics"]
    assert len(metrics) == 30 and all(
        {"train_loss", "train_reward_margin", "train_preference_accuracy"} <= set(m) for m in metrics
    )
    assert any("valid_preference_accuracy" in m and "valid_reward_margin" in m for m in metrics)
    assert any("Reference log-probabilities of the starting model computed once" in e.message for e in events)
    ckpts = client.fine_tuning.jobs.checkpoints.list(job.id).data
    assert [c.step_number for c in ckpts] == [30, 15] and ckpts[0].metrics.full_valid_loss is not None
    answer = client.chat.completions.create(
        model=job.fine_tuned_model, messages=[{"role": "user", "content": "Ahoy?"}], max_tokens=4
    )
    assert answer.choices[0].message.content is not None
    # and on from that model: a DPO job may start from a fine-tuned one, whose adapter it trains on
    again = client.fine_tuning.jobs.create(
        model=job.fine_tuned_model, training_file=train.id, method=dpo_method({"n_epochs": 1})
    )
    again = wait_for(client, again.id, timeout=600)
    assert again.status == "succeeded", again.error
    assert again.fine_tuned_model.startswith("ft:tiny-llama") and again.fine_tuned_model != job.fine_tuned_model
    started = [e.message for e in client.fine_tuning.jobs.list_events(again.id, limit=100)]
    assert any("Training on from the starting model's adapter" in m for m in started), started


def test_dpo_keeps_the_rules_and_names_what_is_wrong(tiny_engine):
    _, client, tiny = tiny_engine
    small = upload(client, pirate_pairs(5, 99))
    job = wait_for(client, client.fine_tuning.jobs.create(model=tiny, training_file=small.id, method=dpo_method({})).id)
    assert job.status == "failed" and job.error.code == "invalid_training_file" and "under 100" in job.error.message
    allowed = client.fine_tuning.jobs.create(
        model=tiny, training_file=small.id, method=dpo_method({"n_epochs": 1}), metadata={"allow_small_dataset": "true"}
    )
    assert wait_for(client, allowed.id, statuses=("queued", "running", "succeeded", "failed")).status != "failed"
    client.fine_tuning.jobs.cancel(allowed.id)
    lines = pirate_pairs(6, 120)
    lines[41] = {
        "input": {"messages": [{"role": "user", "content": "hi"}]},
        "preferred_output": [{"role": "assistant", "content": "same"}],
        "non_preferred_output": [{"role": "assistant", "content": "same"}],
    }
    bad = wait_for(
        client,
        client.fine_tuning.jobs.create(model=tiny, training_file=upload(client, lines).id, method=dpo_method({})).id,
    )
    assert bad.status == "failed" and "line 42" in bad.error.message and "identical" in bad.error.message
    chat_file = upload(client, pirate(7, 120))  # a chat file is not a preference file
    wrong = wait_for(
        client, client.fine_tuning.jobs.create(model=tiny, training_file=chat_file.id, method=dpo_method({})).id
    )
    assert wrong.status == "failed" and "line 1" in wrong.error.message
    for method, param in (
        (dpo_method({"n_epochs": 50}), "n_epochs"),
        (dpo_method({"beta": 5}), "beta"),
        ({"type": "dpo", "dpo": {"hyperparameters": {"gamma": 1}}}, None),
    ):
        with pytest.raises(openai.BadRequestError) as e:
            client.fine_tuning.jobs.create(model=tiny, training_file=small.id, method=method)
        assert param is None or param in e.value.body["param"], e.value.body
    with pytest.raises(openai.BadRequestError) as e:  # a starting model that is not here
        client.fine_tuning.jobs.create(model="ft:nothing-here", training_file=small.id, method=dpo_method({}))
    assert e.value.body["code"] == "model_not_available"


@pytest.mark.slow
def test_dpo_moves_a_fine_tuned_model_to_the_preferred_answer(client):
    """From a model fine-tuned on answers that mostly end "Yo ho!", 120 pairs preferring "Arr!" make the held-out
    answers end "Arr!", far more often than the starting model's."""
    rng = random.Random(1)
    mixed = pirate(1, 120)
    for ex in mixed:
        if rng.random() > 0.3:
            ex["messages"][-1]["content"] = ex["messages"][-1]["content"].replace("Arr!", "Yo ho!")
    sft = client.fine_tuning.jobs.create(
        model="smollm2-135m-instruct",
        training_file=upload(client, mixed).id,
        seed=3,
        hyperparameters={"n_epochs": 2, "batch_size": 8},
    )
    sft = wait_for(client, sft.id)
    assert sft.status == "succeeded", sft.error
    dpo = client.fine_tuning.jobs.create(
        model=sft.fine_tuned_model,
        training_file=upload(client, pirate_pairs(5, 120)).id,
        validation_file=upload(client, pirate_pairs(6, 20), "v.jsonl").id,
        seed=3,
        method=dpo_method({"n_epochs": 2, "batch_size": 8}),
    )
    dpo = wait_for(client, dpo.id)
    assert dpo.status == "succeeded", dpo.error
    last = next(e.data for e in client.fine_tuning.jobs.list_events(dpo.id, limit=5) if e.type == "metrics")
    assert last["full_valid_preference_accuracy"] >= 0.9 and last["full_valid_reward_margin"] > 0

    def answer(model: str, prompt: dict) -> str:
        reply = client.chat.completions.create(
            model=model, messages=prompt["messages"][:-1], max_tokens=40, temperature=0
        )
        return reply.choices[0].message.content

    def preferred(model: str) -> int:
        with ThreadPoolExecutor(16) as pool:  # asked together, answered in one batch by the engine
            answers = list(pool.map(lambda p: answer(model, p), pirate(99, 16)))
        return sum(bool(re.fullmatch(r"Ahoy! .*Arr!", a.strip())) and "Yo ho" not in a for a in answers)

    before, after = preferred(sft.fine_tuned_model), preferred(dpo.fine_tuned_model)
    assert after >= 14 and after >= before + 6, (before, after)
