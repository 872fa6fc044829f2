# %% [markdown]
# # Step 5: compare with the base model on the test set
#
# At the end you will know, with confidence intervals, whether fine-tuning helped
# (`data/work/05_evaluate/comparison.json`).

# %% [markdown]
# A fine-tuned model means nothing until it beats the model you started from, on examples it never saw. Both models
# answer the **held-out test split** (never training or validation data).

# %%
import os
import ftwidgets
from ftwidgets import workbook
from ftwidgets.evaluation import compare, held_out_test_items
from ftwidgets.evaluation.evaluate import evaluate
from ftwidgets.metrics import llm_judge
from ftwidgets.training import train_small
from ftwidgets.widgets import ComparisonView
client = ftwidgets.client(os.environ.get("FTW_BACKEND", "engine"))
task = workbook.task(client)  # your own data: the graders you saved in step 2

# %% [markdown]
# Inputs: step 3's test split and step 4's model (or, if those steps were not run, a sample split and a small model
# trained here in a minute or two). The split's train and validation files are checked: a test prompt seen in training
# stops the evaluation.

# %%
split = workbook.split_or_fallback("05_evaluate")
items = held_out_test_items(split)
print(items.note())  # a prompt repeated in the test split counts once: every n below is this one
if QUICK:  # the short run (CI)
    print(f"QUICK: evaluating the first 24 of {len(items)} test items"); items = items[:24]
trained = workbook.manifest("04_train") or {}
tuned = trained.get("fine_tuned_model") or train_small(client, split, workbook.work_dir("05_evaluate"))
models = {"base": trained.get("base_model", ftwidgets.DEFAULT_BASE_MODEL), "fine_tuned": tuned}
len(items), models

# %% [markdown]
# **The strongest cheap baseline: prompting with examples.** Before fine-tuning, every serious team tries the base
# model with instructions and a few worked examples in its prompt. Here the base model gets as many examples from your
# **training** split as fit a 512-token prompt (the same ones for every test item, after the same system prompt).
# Fine-tuning is worth it when it beats that, or matches it with shorter prompts, less time and a lower bill. More
# examples make a stronger baseline and a slower one (`few_shot_system(..., budget=1024)`); on the math tutor, 6 of
# them matched the fine-tuned model's format in a short run (docs/performance.md).

# %%
from ftwidgets.data import load_jsonl
from ftwidgets.evaluation import few_shot_system
few_shot = few_shot_system(models["base"], load_jsonl(split / "train.jsonl"), items, max_tokens=task.max_tokens)
models = {"base": models["base"], "few_shot": few_shot, "fine_tuned": tuned}
print(f"few-shot: {few_shot.model} with {few_shot.prompting}")

# %% [markdown]
# **Metrics**, the task's own. Math tutor: format compliance (the taught `Step 1: ... Answer: N` shape), answer
# accuracy (the final number), and two overlap scores. Support routing: valid JSON, label accuracy (category and
# priority both right), and each label on its own. Your own data: the graders you saved in step 2 (valid JSON and each
# field, a label, a format, or word overlap), each one compared on its own. Set `FTW_JUDGE_MODEL` to add an LLM judge
# with a rubric, through any OpenAI-compatible model: step 6 checks it against your own reviews, and until it has, the
# judge's number is a guess.

# %%
from ftwidgets.review import judge_check_note
metrics = task.metrics()
if os.environ.get("FTW_JUDGE_MODEL"):
    metrics.append(llm_judge(client, os.environ["FTW_JUDGE_MODEL"]))
    print(judge_check_note(os.environ["FTW_JUDGE_MODEL"], workbook.judge_check_file()))
[m.name for m in metrics]

# %% [markdown]
# The three systems answer every test prompt, up to 128 requests at a time: the embedded engine decodes 32 at once and
# starts the next as each one ends (a hosted backend that says "too many requests" is asked again by the client,
# with its backoff). Answers are saved as they arrive: re-running this cell after a crash only asks for the missing
# ones.

# %%
from IPython.display import display
from ftwidgets.widgets import ProgressBar
progress = ProgressBar("Answers"); display(progress)  # each model's answers as they come in, and the time left
evaluation = evaluate(client, items, models, cache_dir=workbook.work_dir("05_evaluate"), concurrency=128,
                      max_tokens=task.max_tokens, on_progress=progress.update)
evaluation.errors()

# %% [markdown]
# **Honest statistics.** A test split of a few dozen items is small: each difference comes with a paired bootstrap 95%
# interval, and pass/fail metrics with McNemar's exact test. Disagreements are listed first.

# %%
comparison = compare(evaluation, metrics)
ComparisonView(comparison)

# %%
print(comparison.verdict())

# %% [markdown]
# **Was it worth it?** The three systems side by side on the task's key metrics, with what each costs per answer:
# prompt tokens, seconds, and what a hosted backend would charge (the embedded engine charges nothing). Then the
# fine-tuned model against the few-shot one, item by item, with the same paired statistics.
#
# **What did it break?** A model tuned on one format may force it onto every question. Both models answer 20 everyday
# prompts (with your system prompt: the one you will deploy), each checked by a rule, and read 15 passages of everyday
# text, whose loss rises when the model's general language has moved.

# %%
from ftwidgets.evaluation import check_forgetting
from ftwidgets.graders import Grading
from ftwidgets.widgets import WorthItView
from ftwidgets.evaluation.worth_it import worth_it
worth = worth_it(evaluation, metrics, task.key_metrics)
trained_system = next((m["content"] for m in items[0].messages if m["role"] == "system"), None)
task_format = next((m for m in metrics if m.name == task.key_metrics[0] and m.kind in ("pass", "auto")), None)
with Grading() as grading:
    forgetting = check_forgetting(client, {"base": models["base"], "fine_tuned": tuned}, system=trained_system,
                                  grading=grading, cache_dir=workbook.work_dir("05_evaluate"), task_format=task_format)
WorthItView(worth, forgetting)

# %%
print(worth.verdict())
print(forgetting.sentence())

# %% [markdown]
# ### Checkpoint

# %%
assert not any(evaluation.errors().values()), "Some answers failed to generate: read the errors above and re-run."
assert {r.metric for r in comparison.results} >= set(task.key_metrics), "Compare on the task's own metrics."
assert {"base", "few_shot", "fine_tuned"} <= set(evaluation.outputs), "Compare with the few-shot baseline too."
evaluation.save(workbook.work_dir("05_evaluate") / "outputs.jsonl")
comparison.save(workbook.work_dir("05_evaluate"), worth_it=worth.to_dict(), forgetting=forgetting.to_dict())
workbook.write_manifest("05_evaluate", models=evaluation.models, items=len(items), verdict=comparison.verdict(),
                        worth_it=worth.verdict(), forgetting=forgetting.sentence().split("\n")[0])

# %% [markdown]
# **Try it yourself: the playground.** Type any prompt: the base model and the fine-tuned one answer side by side,
# streamed, with the system prompt they were trained with. Turn the temperature up to see how answers vary. **Add to
# review** puts the prompt and both answers into step 6, where you judge them blind, apart from the test set (whose
# statistics above they never change).

# %%
from ftwidgets.widgets import ChatCompare
playground = ChatCompare(client, models=[models["base"], models["fine_tuned"]], labels=["base", "fine-tuned"],
                         system=trained_system, review_queue=workbook.review_queue_file())
playground

# %% [markdown]
# ## Recap
#
# You compared the fine-tuned model with its base on held-out data, with intervals and p-values instead of a bare
# number.
