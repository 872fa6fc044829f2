# %% [markdown]
# # Side lesson: facts need retrieval, not fine-tuning
#
# At the end you will have measured, on questions the models never saw, what fine-tuning on facts gives and what
# retrieval gives (`data/work/07_facts/manifest.json`).

# %% [markdown]
# Step 2 warns when a dataset teaches facts: fine-tuning changes *how* a model answers, and is a poor way to put
# knowledge into it. Here is the measurement behind the warning. The facts are about 50 islands that do not exist, so
# no model knows them beforehand: whatever a model answers right, it learned from the training data or read in the
# documents.

# %%
import os
import ftwidgets
from ftwidgets import workbook
from ftwidgets.data import load_jsonl, split_examples, validate_file, write_jsonl
from ftwidgets.evaluation import compare, evaluate_with_retrieval
from ftwidgets.evaluation import DocumentIndex, fact_table, question_items, questions_by_kind
from ftwidgets.metrics import contains_answer
from ftwidgets.training import chosen_model, launch_or_attach
from ftwidgets.widgets import ComparisonView, HyperparameterPanel, JobMonitor

# %%
client = ftwidgets.client(os.environ.get("FTW_BACKEND", "engine"))
facts = load_jsonl(workbook.SAMPLES / "facts.jsonl")
print(validate_file(workbook.SAMPLES / "facts.jsonl").quality["fact_verdict"]["sentence"])
facts[0]["messages"][1:]

# %% [markdown]
# Suppose we ignore the warning and fine-tune anyway, by the rules: an 80/10/10 split, the workbook's own settings
# (epochs "auto", learning-rate multiplier 1, early stopping on). QUICK changes nothing here: the data is small
# already.

# %%
split = split_examples(facts, seed=42)
out = workbook.work_dir("07_facts")
train_file, valid_file = out / "train.jsonl", out / "validation.jsonl"
write_jsonl(train_file, split.train, overwrite=True); write_jsonl(valid_file, split.validation, overwrite=True)
on_openai = os.environ.get("FTW_BACKEND", "engine") in ("openai", "azure")
panel = HyperparameterPanel(len(split.train), early_stopping=not on_openai)
monitor = JobMonitor(client, launch_or_attach(client, train_file, valid_file, panel.settings, out / "job.json"))
monitor.watch(every=2)
monitor

# %%
assert monitor.wait(every=2) == "succeeded", "The job did not succeed: read its events above."
base_model = client.fine_tuning.jobs.retrieve(monitor.job_id).model
fine_tuned, why = chosen_model(client, monitor.job_id)
print("fine-tuned:", why)

# %% [markdown]
# **Held-out questions.** Every fact is asked again *in other words* (the models never saw these questions). Three
# kinds: facts that were in the training data, facts that were not (the test split's), and islands that are in no
# document at all, where the only right answer is "I don't know".

# %%
groups = questions_by_kind(load_jsonl(workbook.SAMPLES / "facts_questions.jsonl"), split.train, split.test)
answerable = groups["trained"][:24] + groups["not trained"]
absent = groups["not in the documents"]
{kind: len(qs) for kind, qs in groups.items()}, len(answerable)

# %% [markdown]
# **Retrieval.** The same facts as one short document per island, searched with BM25 (`bm25s`); the two best passages
# go into the prompt of the *base* model. A question that matches no document gets "not found" without asking the
# model.

# %%
index = DocumentIndex.from_jsonl(workbook.SAMPLES / "facts_documents.jsonl")
question = answerable[0]["question"]
question, [(p.text, round(p.score, 2)) for p in index.search(question)]

# %% [markdown]
# Three systems answer every held-out question: the base model, the fine-tuned model, and the base model with
# retrieval. The share each gets right, by kind of question (for islands in no document, right means saying it does
# not know):

# %%
system = facts[0]["messages"][0]["content"]
items = question_items(answerable + absent, system)
from IPython.display import display
from ftwidgets.widgets import ProgressBar
progress = ProgressBar("Answers"); display(progress)
evaluation = evaluate_with_retrieval(client, items, {"base": base_model, "fine_tuned": fine_tuned}, index,
                                     reader=base_model, cache_dir=out, concurrency=32, max_tokens=48,
                                     on_progress=progress.update)
table = fact_table(evaluation, [q["kind"] for q in answerable + absent])
shares = table.groupby("kind", sort=False)[[f"{label} right" for label in evaluation.outputs]].mean().round(2)

# %% [markdown]
# The headline: the share each system gets right, by kind of question (the numbers are in the table below it).

# %%
from ftwidgets.widgets import charts
names = {"base": "base model", "fine_tuned": "fine-tuned on the facts", "retrieval": "base model + retrieval"}
bars = [dict(type="bar", name=names.get(label, label), x=list(shares.index), y=shares[f"{label} right"].tolist(),
             text=[f"{v:.0%}" for v in shares[f"{label} right"]], textposition="outside")
        for label in evaluation.outputs]
charts.show(charts.figure(bars, title="Facts need retrieval: the share right by kind of question", barmode="group",
                          yaxis=charts.axis("share right", range=[0, 1.1], tickformat=".0%"), height=360))
shares

# %% [markdown]
# **Retrieval against the fine-tuned model** on the answerable questions (the answer contains the fact): a paired
# bootstrap interval and McNemar's exact test, as in step 5.

# %%
scored = evaluation.select(range(len(answerable)))
comparison = compare(scored, [contains_answer()], baseline="fine_tuned", candidate="retrieval")
ComparisonView(comparison)

# %%
print(comparison.verdict())
print(compare(scored, [contains_answer()], baseline="base", candidate="fine_tuned").verdict())

# %% [markdown]
# The answers side by side, the fine-tuned model's **confident wrong answers** first: it learned the shape of an
# answer ("The capital of X is Y.") and fills in a name or a year that sounds right.

# %%
shown = ["kind", "question", "reference", "fine_tuned", "retrieval", "base"]
table[table.kind != "not in the documents"][shown].head(12)

# %% [markdown]
# **Islands in no document.** Retrieval finds nothing and says so; a model fine-tuned on facts answers anyway.

# %%
table[table.kind == "not in the documents"][["question", "fine_tuned", "retrieval", "base"]]

# %% [markdown]
# ### Checkpoint

# %%
assert not any(evaluation.errors().values()), "Some answers failed to generate: re-run the evaluation cell."
answered, unknown = table[table.kind != "not in the documents"], table[table.kind == "not in the documents"]
accuracy = {label: round(float(answered[f"{label} right"].mean()), 3) for label in evaluation.outputs}
admits = {label: round(float(unknown[f"{label} right"].mean()), 3) for label in evaluation.outputs}
not_in_documents = {"items": len(unknown), "admits_not_knowing": admits}
workbook.write_manifest("07_facts", items=len(answered), accuracy=accuracy, models=evaluation.models,
                        not_in_documents=not_in_documents, verdict=comparison.verdict())
accuracy

# %% [markdown]
# ## Recap
#
# You measured it: retrieval answers facts it can read, fine-tuning does not reliably add them, and a model fine-tuned
# on facts invents answers where retrieval can say it found nothing.
