"""Where the workbook's folder is (the one holding ``data/`` and ``notebooks/``): read by the steps' work folders and
the samples (`workbook`) and by the shipped everyday prompts (`evaluation.forgetting`)."""

from __future__ import annotations

import os
from pathlib import Path


def find_root() -> Path:
    """The workbook folder (the one holding ``data/samples/`` and ``notebooks/``).

    ``FTW_ROOT`` if set; else the checkout this package sits in (an editable install);
    else the nearest folder at or above the working directory that holds the samples
    (a regular install, e.g. on Binder, run from the repository's notebooks).
    """
    if os.environ.get("FTW_ROOT"):
        return Path(os.environ["FTW_ROOT"]).expanduser().resolve()
    here = Path(__file__).resolve().parents[2]
    for candidate in (here, *[Path.cwd(), *Path.cwd().parents]):
        if (candidate / "data" / "samples" / "math_tutor.jsonl").exists():
            return candidate
    return here


ROOT = find_root()
