# %% [markdown]
# # Step 6: review the answers yourself, blind
#
# At the end you will have your own judgement of the two models (`data/work/06_review/`), and preference data to start
# a DPO round.

# %% [markdown]
# Metrics miss things only a person sees. Here each test prompt shows the two models' answers as **A** and **B**, in
# random order and without names, so you judge the answers, not the labels.

# %%
import os
import ftwidgets
from ftwidgets import workbook
from ftwidgets.evaluation import Evaluation, held_out_test_items
from ftwidgets.evaluation.evaluate import evaluate
from ftwidgets.review import ReviewStore, export_review, people, review_items, rule_review, summarize
from ftwidgets.training import train_small
from ftwidgets.widgets import ABReview, DownloadButton, ReviewSummaryView

# %% [markdown]
# Inputs: step 5's answers, or (if step 5 was not run) a short evaluation made here.

# %%
source = workbook.evaluation_file()
if source is None:
    client, split = ftwidgets.client(os.environ.get("FTW_BACKEND", "engine")), workbook.split_or_fallback("06_review")
    here = workbook.work_dir("06_review")
    models = {"base": ftwidgets.DEFAULT_BASE_MODEL, "fine_tuned": train_small(client, split, here)}
    from IPython.display import display
    from ftwidgets.widgets import ProgressBar
    progress = ProgressBar("Answers"); display(progress)
    source = evaluate(client, held_out_test_items(split)[:24], models, cache_dir=here, concurrency=32,
                      max_tokens=workbook.task().max_tokens, on_progress=progress.update).save(here / "outputs.jsonl")
items = review_items(Evaluation.load(source))
len(items)

# %% [markdown]
# Type your name, then judge: **A is better**, **B is better**, **tie** or **both bad**; optionally score each answer
# 1-5, tag it and comment. The keyboard strip under the buttons takes the focus when the review appears (it turns blue
# and says *Keyboard on*): keys 1-4, s (skip) and u (undo) then go to the review, not to the notebook. If it says
# *Keyboard off*, click it. Every click is saved to disk at once: close the notebook any time and come back to where
# you stopped.

# %%
store = ReviewStore(workbook.work_dir("06_review") / "reviews.jsonl")
review = ABReview(items, store, reviewer=os.environ.get("FTW_REVIEWER", ""))
review

# %% [markdown]
# A second opinion: an automatic reviewer (named `rule:metrics`, never mistaken for a person) prefers the answer that
# passes more of the task's checks (math: the format and the final number; routing: valid JSON and the right labels;
# your own data: the graders you saved in step 2).
# The summary below counts **people only** once someone has reviewed (until then, the automatic reviewer, and it says
# so), and it refreshes after each of your decisions; your agreement with the automatic reviewer is reported on its
# own line.

# %%
client = ftwidgets.client(os.environ.get("FTW_BACKEND", "engine"))
rule_review(store, items, workbook.task(client).review_metrics())

def current_summary():
    return summarize(store, reviewers=people(store) or None)

summary_view = ReviewSummaryView(current_summary())
review.on_decision(lambda: summary_view.update(current_summary()))
summary_view

# %% [markdown]
# **Your own prompts**, from the playground in step 5 (and the one below): reviewed blind the same way, kept apart
# from the test set's reviews, so they never change its statistics.

# %%
from ftwidgets.review import queued_items
own_prompts = queued_items(workbook.review_queue_file())
if own_prompts:
    own_review = ABReview(own_prompts, ReviewStore(workbook.work_dir("06_review") / "playground_reviews.jsonl"),
                          reviewer=os.environ.get("FTW_REVIEWER", ""))
else:
    own_review = "No prompt added from the playground yet: type one below, press Send, then Add to review."
own_review

# %% [markdown]
# **Can a model review for you?** Many teams let a model judge answers (an "LLM judge"). Before you trust one, measure
# it against your own reviews: here the judge (`FTW_JUDGE_MODEL`, else the base model you started from) sees each
# prompt and the two answers as A and B, twice, the second time swapped. A verdict that flips with the order is no
# verdict. Cohen's kappa says how far it agrees with you beyond chance (with the automatic reviewer until you have
# reviewed: it says so). Below 0.6, or with fewer than 80% of its verdicts surviving the swap, it is not to be relied
# on. Run this cell again after reviewing to measure it against you.

# %%
from ftwidgets.graders import Grading, client_chat
from ftwidgets.review import check_judge, judge_items, pairwise_grader
evaluated = Evaluation.load(source).models  # the two models these answers came from
judge = os.environ.get("FTW_JUDGE_MODEL") or evaluated["base"]
with Grading(client_chat(client)) as grading:
    verdicts = judge_items(items, grading, pairwise_grader(judge))
judge_check = check_judge(judge, verdicts, store)
workbook.save_judge_check(judge_check)
print(judge_check.sentence())

# %%
from ftwidgets.widgets import ChatCompare
system = next((m["content"] for m in items[0].messages if m["role"] == "system"), None)
ChatCompare(client, models=[evaluated["base"], evaluated["fine_tuned"]],
            labels=["base", "fine-tuned"], system=system, review_queue=workbook.review_queue_file())

# %% [markdown]
# **Export.** Every decision to CSV; decisions with a winner (where reviewers agree) to OpenAI's preference (DPO)
# format, checked by the same validator as training data (the start of a preference-tuning round), and the agreement
# with the automatic reviewer. They are made now, from the decisions so far, and made again from all your decisions
# when you press **Download** below.

# %%
def make_exports():
    made = export_review(store, items, workbook.work_dir("06_review"))
    workbook.write_manifest("06_review", reviewers=store.reviewers(), decisions=made.summary.decisions,
                            summary=made.summary.sentence(), preference_pairs=made.preferences.usable_examples,
                            exports_made_at=made.made_at)
    return made

exports = make_exports()
print(exports.describe())

# %% [markdown]
# ### Checkpoint

# %%
preferences = exports.preferences
assert preferences.valid or preferences.usable_examples == 0, "The preference file has errors: see the report above."

# %% [markdown]
# **Your model, in your download.** The fine-tuned model these answers came from, as its LoRA adapter with an Ollama
# `Modelfile` and a model card that now carries step 5's verdict. Its card says how to run it with transformers and
# PEFT, or with Ollama.

# %%
fine_tuned = Evaluation.load(source).models["fine_tuned"]
if os.environ.get("FTW_BACKEND", "engine") in ("openai", "azure"):
    print(f"{fine_tuned} stays with OpenAI or Azure: its weights cannot be downloaded.")
else:
    try:
        exported = ftwidgets.export(fine_tuned, "adapter", workbook.exported_model_dir(), force=True)
        print((exported / "README.md").read_text().split("## Evaluation", 1)[1])
    except ftwidgets.ExportError as why:
        print("Not exported:", why)

# %% [markdown]
# **Download your work.** Everything the steps made (your data, the split, the job records, the answers, your reviews,
# the preference file and your model) in one zip, made when you press the button, so it holds every review you have
# made. On Binder, download it before you close the tab: the session and its files vanish.

# %%
def my_work():
    made = make_exports()  # every review so far is in the CSV, the preferences and the summary
    return workbook.archive_work(), f"Its exports were made from {made.summary.decisions} decision(s)."

DownloadButton(my_work, label="Download my work (zip)")

# %% [markdown]
# ## Recap
#
# You reviewed the answers blind, measured agreement, and exported preferences for a DPO round.
