# %% [markdown]
# # Step 2: validate before you train
#
# At the end you will know your file is correct OpenAI chat JSONL, what it costs, and whether it teaches style or facts.

# %%
from ftwidgets import workbook
from ftwidgets.data import validate_file
from ftwidgets.widgets import DatasetReport, DropFlagged, ValidationTable
dataset = workbook.prepared_dataset()
dataset

# %% [markdown]
# First, a deliberately broken file: every error has a code, a line and a fix. Filter by severity or code, and type a
# line number to see the example.

# %%
ValidationTable(validate_file(workbook.SAMPLES / "broken.jsonl"))

# %% [markdown]
# Now your dataset: errors block training, warnings are worth reading. If you brought your own file, every place is
# a line (or a record) of that file, the one you would open to fix it.

# %%
report = validate_file(dataset)
origins = workbook.origins_of(dataset)  # where step 1's examples stand in your file (None for a sample)
ValidationTable(report, origins=origins)

# %% [markdown]
# **A way on.** Examples with errors, and exact repeats of an earlier example, can be dropped with one click into a
# new file (`data/work/02_validate/dataset.cleaned.jsonl`); your file is never changed. The new file is validated
# again, and the next steps use it. Or fix your file and run step 1 again.

# %%
way_on = DropFlagged(report, on_drop=workbook.drop_flagged_examples, origins=origins)
way_on

# %% [markdown]
# **What the model learns from.** A job trains on the assistant replies only: the system and user turns, replies with
# `weight: 0` and the template's own tokens are context. Here are your first examples as the job sees them (through
# the model's chat template on the embedded engine; on OpenAI, its documented rule), the trained text highlighted. An
# example that trains on nothing is an error: a job would learn nothing from it.

# %%
import os
from ftwidgets.data import engine_label_report, openai_label_report
from ftwidgets.widgets import TrainedTokens
on_openai = os.environ.get("FTW_BACKEND", "engine") in ("openai", "azure")
labelled = dataset
# on the engine, `ftw labels` in a process of its own
labels = openai_label_report(dataset) if on_openai else engine_label_report(dataset)
TrainedTokens(labels, origins=origins)

# %% [markdown]
# Tokens, cost, lengths, duplicates, diversity and the fact-versus-style verdict:

# %%
DatasetReport(report)

# %% [markdown]
# The same check on a dataset of facts (islands and their capitals) says: use retrieval, not fine-tuning. The side
# lesson [07 facts need retrieval](07_facts_need_retrieval.ipynb) measures why.

# %%
print(validate_file(workbook.SAMPLES / "facts.jsonl").quality["fact_verdict"]["sentence"])

# %% [markdown]
# **What success means for your task.** Step 5 will compare your fine-tuned model with the base model, and a number
# like "word overlap +20 points" can hide a wrong answer: an order with the wrong size still shares most of its words
# with the right one. So say now what a right answer is, as **graders** (OpenAI's format, so the same definition runs
# here, on the engine and on OpenAI). They are proposed from your own reference answers: JSON answers get valid JSON,
# the whole object, and each field on its own (you will see which field goes wrong); a small set of labels gets the
# label; a shared last line (`Answer: 42`) gets the format and the value; anything else gets word overlap. Change
# them, or add a rule or a few lines of Python, then press **Check and save**. Each of your reference answers must
# pass its own graders. The sample tasks come with theirs (their metrics); this is for your own data.

# %%
from ftwidgets.widgets import GraderSetup
task = workbook.task()
if task.sample:
    grader_setup = None
    print(f"{task.title}: measured by {', '.join(m.name for m in task.metrics())}")
else:
    grader_setup = GraderSetup(workbook.prepared_dataset(), workbook.graders_file())
grader_setup

# %% [markdown]
# ### Checkpoint

# %%
dataset = workbook.prepared_dataset()  # the cleaned file, once you have pressed the button above
if str(dataset) != report.path:
    print("Checking the cleaned file:", dataset.name)
    report = validate_file(dataset)
assert report.valid, (f"{report.error_count} error(s) are listed above: press the Drop button above to go on without "
                      "those examples, or fix your file and run step 1 again.")
if dataset != labelled:  # the cleaned file: its own trained tokens
    labels = openai_label_report(dataset) if on_openai else engine_label_report(dataset)
assert labels.ok, "Some examples train on nothing (above, each with its line and why): fix them, or press Drop."
assert not report.quality["fact_verdict"]["looks_like_facts"], "This data teaches facts: use retrieval (RAG) instead."

# %%
if grader_setup is not None:  # your own data: every reference passes the graders that will measure your models
    if grader_setup.dataset != dataset:  # the cleaned file: your graders previewed on its own references
        grader_setup.use(dataset)
    assert grader_setup.ok, "A grader fails some of your own reference answers (see above): change it before training."

# %%
counts, tokens = dict(report.counts), report.tokens
workbook.write_manifest("02_validate", dataset=str(dataset), valid=report.valid, counts=counts, tokens=tokens)
print(f"{dataset.name} passed every rule: {report.examples} examples, {tokens['billable_tokens']:,} billable tokens.")

# %% [markdown]
# ## Recap
#
# You checked your file against every rule, with a way on where examples broke one, and saw its token count, cost and
# quality.
