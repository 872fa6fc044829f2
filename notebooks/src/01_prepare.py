# %% [markdown]
# # Step 1: prepare your examples
#
# At the end you will have a chat-format dataset (`data/work/01_prepare/dataset.jsonl`).

# %% [markdown]
# Fine-tuning learns from examples of the conversations you want: a system prompt, a user turn, and the assistant
# answer to imitate. Start from a spreadsheet (CSV), a ShareGPT or Alpaca file, or JSONL.

# %%
from ftwidgets import workbook
from ftwidgets.data import DataError, from_csv, load_jsonl, to_dataframe, write_jsonl
from ftwidgets.widgets import DataImport

# %% [markdown]
# **Choose a task** for the workbook's sample data: *Math tutor* teaches a style and a format (step-by-step
# explanations; a 135M model learns the layout, not the arithmetic), *Support routing* teaches a classification (a
# category and a priority as JSON; the model learns which words mean what, so its accuracy rises). Change it, then run
# the cells below again; steps 2-6 follow your choice.

# %%
from ipywidgets import Dropdown
from ftwidgets.tasks import TASKS
sample_tasks = [(task.title, name) for name, task in TASKS.items() if task.sample]
chosen = workbook.task()  # this step's last choice, else FTW_TASK, else the math tutor
task_choice = Dropdown(options=sample_tasks, value=chosen.name if chosen.sample else "math_tutor", description="Task")
task_choice

# %% [markdown]
# **Your own data.** Upload a CSV, JSON or JSONL file (up to 50 MB), or type the path of a file on this machine. For a
# CSV, choose which column holds the user's message, the answer and (optionally) the system prompt, then press
# **Convert**: you see the first converted examples, and every record that could not be converted, with its number and
# the reason. ShareGPT, Alpaca and prompt/completion files are recognised by themselves. Then run the cells below
# again. Without a file, the workbook uses its sample.

# %%
import os
importer = DataImport(workbook.work_dir("01_prepare") / "uploads")
if os.environ.get("FTW_DATA"):  # a headless run on your own file: scripts/run_workbook.py --data FILE
    importer.load(os.environ["FTW_DATA"])
importer

# %% [markdown]
# How a CSV converts: columns `system`/`user`/`assistant` (or `prompt`/`completion`) become messages.

# %%
from_csv_examples = from_csv(workbook.SAMPLES / "math_tutor.csv")
to_dataframe(from_csv_examples).head()

# %% [markdown]
# Column names that do not say what they hold, with no choice made, get a clear message, and nothing is written:

# %%
import tempfile
from pathlib import Path
import pandas as pd
bad_csv = Path(tempfile.mkdtemp()) / "mine.csv"
pd.DataFrame({"column_a": ["2+2?"], "column_b": ["4"]}).to_csv(bad_csv, index=False)
try:
    from_csv(bad_csv)
except DataError as err:
    print("Clear message:", err)

# %% [markdown]
# The dataset for the next steps: yours if you converted one above, else the chosen task's sample (style, format and
# classification suit fine-tuning; teaching facts does not).

# %%
task = TASKS["own_data"] if importer.examples else TASKS[task_choice.value]
examples = importer.examples or load_jsonl(workbook.SAMPLES / task.sample)
source = importer.source if importer.examples else "the sample"
print(len(examples), "examples from", source, "- it teaches", task.what_it_teaches)
print(examples[0]["messages"][-1]["content"])

# %% [markdown]
# ### Checkpoint

# %%
assert len(examples) >= 100, "Fewer than 100 examples: collect more before fine-tuning."

# %%
out = workbook.work_dir("01_prepare") / "dataset.jsonl"
inputs = [*filter(None, [importer.source]), *(workbook.SAMPLES / t.sample for t in TASKS.values() if t.sample)]
write_jsonl(out, examples, overwrite=True, protect=inputs)  # never over a file you brought, nor a sample
workbook.record_origins(importer.origins if importer.examples else None)  # step 2 names your own lines
workbook.write_manifest("01_prepare", dataset=out.name, examples=len(examples), task=task.name)

# %% [markdown]
# ## Recap
#
# You turned raw examples into OpenAI chat JSONL and saw how a wrong column is reported.
