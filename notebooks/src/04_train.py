# %% [markdown]
# # Step 4: fine-tune with conservative settings
#
# At the end you will have a fine-tuned model on the embedded engine (no key, no network), with its loss curves.

# %% [markdown]
# **Backends.** The embedded engine (default) really fine-tunes SmolLM2-135M-Instruct on your CPU. Set
# `FTW_BACKEND=openai` (with `OPENAI_API_KEY` in the environment, never in the notebook) to use OpenAI, which stops
# new self-serve fine-tuning jobs on **2027-01-06** and retires gpt-4o, gpt-4o-mini, gpt-4.1 and gpt-4.1-mini,
# fine-tuned variants included, on **2027-01-14**. After that, `FTW_BACKEND=azure` (Azure OpenAI:
# `AZURE_OPENAI_ENDPOINT`, `AZURE_OPENAI_API_KEY`, `OPENAI_API_VERSION`) runs these same cells, and the embedded
# engine keeps working offline.

# %%
import os
import ftwidgets
from ftwidgets import workbook
from ftwidgets.data import load_jsonl, write_jsonl
from ftwidgets.hyperparams import PlanBlocked, supervised_method
from ftwidgets.tokens import count_message_tokens
from ftwidgets.training import chosen_model, launch_or_attach
from ftwidgets.widgets import HyperparameterPanel, JobMonitor
from ipywidgets import Password
BACKEND = os.environ.get("FTW_BACKEND", "engine")
key_box = Password(description="OpenAI key")  # for FTW_BACKEND=openai without OPENAI_API_KEY; kept in memory only
key_box if BACKEND == "openai" and not os.environ.get("OPENAI_API_KEY") else None

# %%
client = ftwidgets.client(BACKEND, **({"api_key": key_box.value} if BACKEND == "openai" and key_box.value else {}))

# %% [markdown]
# Inputs: step 3's split, or a split of the sample made here.

# %%
split = workbook.split_or_fallback("04_train")
train, valid = load_jsonl(split / "train.jsonl"), load_jsonl(split / "validation.jsonl")
if QUICK:  # the short run (CI): the rules' minimum of 100 examples, every setting as a learner's
    print(f"QUICK: training on the first 100 of {len(train)} examples and 16 of {len(valid)} for validation")
    train, valid = train[:100], valid[:16]
len(train), len(valid)

# %%
here = workbook.work_dir("04_train")
train_file, valid_file = here / "train.jsonl", here / "validation.jsonl"
write_jsonl(train_file, train, overwrite=True); write_jsonl(valid_file, valid, overwrite=True)
state = workbook.work_dir("04_train") / "job.json"  # this step's job id: a restarted kernel re-attaches

# %% [markdown]
# **What the model learns from**, in the very file the job gets: the highlighted text trains, the rest is context.
# Step 2 showed the same for your dataset.

# %%
from ftwidgets.data import engine_label_report, openai_label_report
from ftwidgets.widgets import TrainedTokens
labels = (openai_label_report if BACKEND in ("openai", "azure") else engine_label_report)(train_file, show=1)
TrainedTokens(labels)

# %% [markdown]
# ## First, a small search
#
# A few learning rates, one epoch each on a subset (100 examples, 16 for validation), compared by **validation** loss
# (never test data). Each job shows its progress as it trains. The panel below opens at the winner; change it if you
# like, then train the main job on the whole split.

# %%
from IPython.display import display
from ftwidgets.runtime import cuda_available
from ftwidgets.training import best_by_validation, grid_search, search_edge
from ftwidgets.widgets import SearchProgress, charts
multipliers = (0.5, 1.0) if QUICK else (0.25, 0.5, 1.0, 2.0) if cuda_available() else (0.5, 1.0, 2.0)
grid = [{"n_epochs": 1, "learning_rate_multiplier": m} for m in multipliers]
sub_train, sub_valid = here / "grid_train.jsonl", here / "grid_valid.jsonl"
write_jsonl(sub_train, train[:100], overwrite=True); write_jsonl(sub_valid, valid[:16], overwrite=True)
search_model = ftwidgets.base_model(BACKEND)  # the engine's SmolLM2, or gpt-4o-mini on OpenAI and Azure
search = SearchProgress(client, len(grid)); display(search)  # job k of n, its progress and time left
results = grid_search(client, sub_train, sub_valid, grid, base={"model": search_model, "seed": 42},
                      state_dir=workbook.work_dir("04_train"), on_job=search.start)

# %%
best = best_by_validation(results)
search.finish(results, best)
charts.show(charts.search_losses(results, best))  # each setting's validation loss by step, the winner's line bold
print(f"best by validation loss: lr x{best.settings['learning_rate_multiplier']} ({best.final_valid_loss:.3f}); "
      "the panel below starts there")
print(search_edge(results, best) or "The winner sits inside the searched range.")  # at its edge: what that means

# %% [markdown]
# ## The main job

# %% [markdown]
# Choose the settings: 2-4 epochs and a low learning rate, then press **Launch**: the job's monitor appears below the
# button. Try 50 epochs: the panel refuses, and so does every other way to launch.
#
# **Early stopping** is on: the job watches its validation loss, stops when it has not improved for a while, and keeps
# the model from its best step, so a few epochs too many cost nothing. (OpenAI has no early stopping; there the
# checkpoint with the lowest validation loss is chosen after the job.)

# %%
def launch(settings):
    """The Launch button and the launch cell below both come here: one job per setting, never a blocked plan."""
    monitor = JobMonitor(client, launch_or_attach(client, train_file, valid_file, settings, state))
    monitor.watch(every=2)  # live curves while the job trains
    return monitor

train_tokens = [count_message_tokens(example["messages"]) for example in train]  # as step 2 counts them
panel = HyperparameterPanel(len(train), example_tokens=train_tokens, base_models=[ftwidgets.base_model(BACKEND)],
                            early_stopping=BACKEND not in ("openai", "azure"))
panel.lr.value = best.settings["learning_rate_multiplier"]  # the search's winner; yours to change
panel.on_launch(launch)
panel

# %% [markdown]
# The mistakes the rules stop: 30 examples, or 50 epochs, leave Launch disabled and say why. Going around the panel
# does not help: the launch function refuses the same plan, and creates nothing.

# %%
too_few = HyperparameterPanel(30)
too_many = HyperparameterPanel(1000); too_many.auto_epochs.value = False; too_many.epochs.value = 50
for mistake in (too_few, too_many):
    print("Launch disabled:", mistake.launch.disabled, "-", " ".join(g.message for g in mistake.plan.guards))
try:
    launch({**panel.settings, "method": supervised_method({"n_epochs": 50})})
except PlanBlocked as refusal:
    print(refusal)

# %% [markdown]
# Launch: the same as pressing the button (headless runs launch with the panel's settings). If you already pressed
# Launch, this attaches to that job; a restarted kernel re-attaches too. A blocked plan stops here with the rule's
# words.

# %%
monitor = panel.launch_now()
job_id = monitor.job_id
monitor

# %%
status = monitor.wait(every=2)
status

# %% [markdown]
# ### Checkpoint

# %%
assert status == "succeeded", f"The job ended {status}: read the error above."
job = client.fine_tuning.jobs.retrieve(job_id)
model, why = chosen_model(client, job_id)
print("evaluating", why)
workbook.write_manifest("04_train", job_id=job_id, fine_tuned_model=model, base_model=job.model,
                        hyperparameters=job.hyperparameters.model_dump())

# %% [markdown]
# **Take your model with you.** The engine's model leaves as its LoRA adapter (a few MB), with an Ollama `Modelfile`
# and a model card: step 6 puts it in your download. `ftw export MODEL --format merged` or `--format gguf` in a
# terminal gives a whole Hugging Face folder or one GGUF file for llama.cpp and Ollama. (OpenAI never hands out the
# weights of the models it fine-tunes.)

# %%
if BACKEND in ("openai", "azure"):
    print(f"{model} stays with {BACKEND}: its weights cannot be downloaded.")
else:
    try:
        exported = ftwidgets.export(model, "adapter", workbook.exported_model_dir(), force=True)
        print(f"{model} exported to {exported}:", ", ".join(sorted(p.name for p in exported.iterdir())))
    except ftwidgets.ExportError as why:
        print("Not exported:", why)

# %% [markdown]
# ## Recap
#
# You compared settings by validation loss on a subset, then fine-tuned a real model with the winner and guarded
# settings, and watched its loss curves.
