"""Write the notebooks from their sources, notebooks/src/<step>.py (outputs stripped).

Run: python notebooks/make_notebooks.py

Each source is a jupytext percent script: the lesson's prose in `# %% [markdown]` cells, its code in `# %%`
cells, linted by ruff like the package. Its first cell is the title and goal, its last the recap. What every
notebook shares is added here: the navigation under the title, the papermill parameters cell (which also sets the
kernel up: `notebook_kernel.prepare`), the link to the next notebook, and stable cell ids
(regenerating changes nothing).
"""

from pathlib import Path

import jupytext
import nbformat as nbf

from ftwidgets.workbook import LESSONS, NOTEBOOKS, WORKBOOK_RUN, navigation

HERE = Path(__file__).resolve().parent
SOURCES = HERE / "src"
ORDER = WORKBOOK_RUN + LESSONS  # the order a learner is sent through: the steps, the further round, the side lessons
PARAMS = nbf.v4.new_code_cell(
    "import importlib.util, os\n"
    'if importlib.util.find_spec("ftwidgets") is None:  # Colab before its set-up, or a kernel outside .venv\n'
    '    raise SystemExit("The workbook\'s package is not installed for this kernel: see docs/teaching.md, "\n'
    "                     \"'Where a notebook can be opened' (Colab), or run bash scripts/setup.sh\")\n"
    "from ftwidgets.runtime.notebook_kernel import prepare\n"
    "prepare()  # a failed cell says what went wrong, not a traceback; memory a cell no longer needs goes back\n"
    'QUICK = os.environ.get("FTW_QUICK", "0") in ("1", "true")  # papermill: -p QUICK True for the short CI run',
    metadata={"tags": ["parameters"]},
)


def next_notebook(step: str) -> str | None:
    at = ORDER.index(step)
    return ORDER[at + 1] if at + 1 < len(ORDER) else None


def cell(source_cell) -> nbf.NotebookNode:
    """A notebook cell holding only what the source says: its text, and its tags if it has any."""
    tags = source_cell.metadata.get("tags")
    metadata = {"tags": list(tags)} if tags else {}
    if source_cell.cell_type == "markdown":
        return nbf.v4.new_markdown_cell(source_cell.source.strip(), metadata=metadata)
    return nbf.v4.new_code_cell(source_cell.source.strip(), metadata=metadata)


def build(step: str) -> nbf.NotebookNode:
    cells = [cell(c) for c in jupytext.read(SOURCES / f"{step}.py", fmt="py:percent").cells]
    title, *body, recap = cells
    assert title.cell_type == recap.cell_type == "markdown" and recap.source.startswith("## Recap"), (
        f"{step}: a source starts with its title and goal and ends with its recap"
    )
    title.source += f"\n\n{navigation(step)}"
    after = next_notebook(step)
    if after:
        recap.source += f"\n\nNext: [{after}]({after}.ipynb)"
    nb = nbf.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [title, PARAMS.copy(), *body, recap]
    for i, c in enumerate(nb.cells):
        c["id"] = f"{step}-{i:02d}"
    return nb


def main(out_dir=HERE):
    for step in NOTEBOOKS:
        nbf.write(build(step), Path(out_dir) / f"{step}.ipynb")


if __name__ == "__main__":
    main()
