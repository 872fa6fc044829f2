# %% [markdown]
# # Step 8: preference tuning (DPO), measured
#
# At the end you will know whether preference tuning made your fine-tuned model better on the test split
# (`data/work/08_preference_tuning/manifest.json`).

# %% [markdown]
# Supervised fine-tuning imitates examples. **Preference tuning** (DPO, Direct Preference Optimization) learns from
# comparisons instead: for one prompt, *this* answer is better than *that* one. Here your fine-tuned model answers
# prompts from your **training and validation splits** twice; each pair is judged blind; the pairs with a winner train
# a DPO job that starts from your fine-tuned model. Then the new model meets the fine-tuned one on the **untouched
# test split**, with step 5's metrics and statistics. DPO does not always help, and this step says so when it does
# not.

# %%
import os
import ftwidgets
from ftwidgets import workbook
from ftwidgets.evaluation import held_out_test_items
from ftwidgets.review.preference_round import SAMPLES, preference_prompts
from ftwidgets.training import train_small
client = ftwidgets.client(os.environ.get("FTW_BACKEND", "engine"))
task = workbook.task(client)  # your own data: the graders you saved in step 2 judge the pairs
here = workbook.work_dir("08_preference_tuning")

# %% [markdown]
# Inputs: step 3's split and step 4's model (or a sample split and a small model trained here). The prompts come from
# the training and validation files only: a pair learned from a test prompt would make the comparison below
# meaningless, so a test prompt is refused.

# %%
split = workbook.split_or_fallback("08_preference_tuning")
trained = workbook.manifest("04_train") or {}
tuned = trained.get("fine_tuned_model") or train_small(client, split, here)
prompts = preference_prompts(split, limit=48 if QUICK else None)
print(f"{len(prompts)} prompts from the training and validation splits, none of the "
      f"{len(held_out_test_items(split))} test prompts; the model: {tuned}")

# %% [markdown]
# **Two answers to each prompt**, sampled (temperature 1) with different seeds, so they differ, and judged blind as
# they come by an automatic reviewer (`rule:metrics`), so the round also runs without you. For the math tutor it
# prefers the right final answer, and between two answers alike in that, the one with more right sums in its steps.
# Prompts are sampled until 112 pairs have a winner (100 to train on, a tenth more to validate on): 100 first, then
# as many as the rest needs at the rate seen so far, since sampling is the slowest part of this step. A prompt whose
# two answers come out the same has nothing to prefer and is left out. When the first 100 show that all your prompts
# cannot give enough pairs with a winner, the step stops there, with the numbers and the ways on, rather than sample
# for minutes that cannot end in training.

# %%
from IPython.display import display
from ftwidgets.review import ReviewStore, gather_pairs
from ftwidgets.widgets import ProgressBar
progress = ProgressBar("Answers"); display(progress)
store = ReviewStore(here / "reviews.jsonl")
pairs = gather_pairs(client, tuned, prompts, store, task.review_metrics(), enough=0 if QUICK else 112,
                     chunk=48 if QUICK else 100, cache_dir=here, max_tokens=task.max_tokens,
                     on_progress=progress.update)
print(f"{len(pairs)} prompts got two different answers")

# %% [markdown]
# **Judge them yourself**, as in step 6: A and B in random order, no names. A pair where you and the automatic
# reviewer disagree is left out.

# %%
from ftwidgets.widgets import ABReview
ABReview(pairs[:20], store, reviewer=os.environ.get("FTW_REVIEWER", ""), labels=SAMPLES)

# %%
from ftwidgets.review import preference_records, write_pairs
records = preference_records(store, pairs)
files = write_pairs(records, here)
(train_file, train_report), (valid_file, valid_report) = files["train"], files["validation"]
print(f"{len(records)} preference pairs: {train_report.usable_examples} to train on, {valid_report.usable_examples} "
      f"to validate on (OpenAI's preference format, checked: {train_report.valid and valid_report.valid})")

# %% [markdown]
# **The DPO job** starts from your fine-tuned model. `beta` (0.1) sets how far it may move from it; the rules are the
# same as in step 4: at least 100 pairs (fewer need the explicit override), 2-4 epochs, early stopping on the
# validation pairs. The curve is the DPO loss; it starts at 0.69 (no preference yet).

# %%
from ftwidgets.hyperparams import dpo_method
from ftwidgets.job_options import ALLOW_SMALL_METADATA, EARLY_STOPPING_METADATA
from ftwidgets.training import chosen_model, launch_or_attach
from ftwidgets.widgets import JobMonitor
method = dpo_method({"n_epochs": 2, "beta": 0.1, "batch_size": 8})
settings = {"model": tuned, "method": method, "seed": 42, "suffix": "dpo", "metadata": dict(EARLY_STOPPING_METADATA)}
if QUICK and train_report.usable_examples < 100:  # the short run (CI) is a rehearsal, and says so
    print(f"QUICK: {train_report.usable_examples} pairs, under the rules' 100: a rehearsal, with the explicit override")
    settings["metadata"].update(ALLOW_SMALL_METADATA)
job_id = launch_or_attach(client, train_file, valid_file, settings, here / "job.json", step="08_preference_tuning")
monitor = JobMonitor(client, job_id); monitor.watch(every=2)
monitor

# %%
status = monitor.wait(every=2)
assert status == "succeeded", f"The DPO job ended {status}: read the error above."
preferred_model, why = chosen_model(client, monitor.job_id)
print("comparing", why)

# %% [markdown]
# **The honest test.** Both models answer the held-out test split (the fine-tuned model's answers from step 5 are
# reused), scored with step 5's metrics; each difference has a paired 95% interval and a p-value.

# %%
from ftwidgets.evaluation import compare
from ftwidgets.evaluation.evaluate import evaluate
from ftwidgets.widgets import ComparisonView
items = held_out_test_items(split)
if QUICK:
    items = items[:24]
models = {"fine_tuned": tuned, "preference_tuned": preferred_model}
progress = ProgressBar("Answers"); display(progress)
evaluation = evaluate(client, items, models, cache_dir=workbook.work_dir("05_evaluate"), concurrency=128,
                      max_tokens=task.max_tokens, on_progress=progress.update)
comparison = compare(evaluation, task.metrics(), baseline="fine_tuned", candidate="preference_tuned")
ComparisonView(comparison)

# %%
from ftwidgets.review import round_verdict
verdict = round_verdict(comparison, [m.name for m in task.review_metrics()])  # what the preferences were about
print(comparison.verdict()); print(verdict)

# %% [markdown]
# **A short blind review** of the two on test prompts: your judgement next to the numbers (and the automatic
# reviewer's, for a headless run).

# %%
from ftwidgets.review import people, review_items, rule_review, summarize
from ftwidgets.widgets import ReviewSummaryView
labels = ("fine_tuned", "preference_tuned")
test_pairs = review_items(evaluation, labels)[:12]
final_store = ReviewStore(here / "test_reviews.jsonl")
rule_review(final_store, test_pairs, task.review_metrics(), labels=labels)
display(ABReview(test_pairs, final_store, reviewer=os.environ.get("FTW_REVIEWER", ""), labels=labels))
ReviewSummaryView(summarize(final_store, labels, reviewers=people(final_store) or None))

# %% [markdown]
# ### Checkpoint

# %%
from ftwidgets.review import check_apart
check_apart([p for p in prompts if p.id in {r.id for r in pairs}], held_out_test_items(split))  # no test prompt trained
assert not any(evaluation.errors().values()), "Some answers failed to generate: re-run the evaluation cell."
comparison.save(here)
workbook.write_manifest("08_preference_tuning", prompts=len(prompts), pairs=len(records), job_id=monitor.job_id,
                        fine_tuned_model=tuned, preference_tuned_model=preferred_model, verdict=verdict,
                        comparison=comparison.verdict())

# %% [markdown]
# ## Recap
#
# You gathered preferences on prompts the test never sees, trained a DPO model from your fine-tuned one, and measured
# it on the test split, including when it did not help.
