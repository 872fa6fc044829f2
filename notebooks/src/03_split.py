# %% [markdown]
# # Step 3: split 80/10/10
#
# At the end you will have train, validation and test files with no example leaking between them.

# %%
from ftwidgets import workbook
from ftwidgets.data import load_jsonl, split_examples, write_split
from ftwidgets.widgets import SplitView
examples = load_jsonl(workbook.prepared_dataset())

# %% [markdown]
# Train on 80%, watch validation loss on 10%, and keep 10% as a **test set you never train or tune on**. Copies and
# near copies stay together, so the test set is honest.

# %%
result = split_examples(examples, seed=42, stratify="system")
SplitView(result)

# %% [markdown]
# ### Checkpoint

# %%
assert not result.leaks, "Some test or validation examples copy training ones: click the fix button above."
assert abs(len(result.test) / len(examples) - 0.1) < 0.02, "The test split should hold about 10% of the data."
manifest = write_split(result, workbook.work_dir("03_split"), source=workbook.prepared_dataset(), overwrite=True)
manifest["counts"]

# %% [markdown]
# ## Recap
#
# You have an 80/10/10 split with a manifest of counts and checksums.
