"""What every notebook's kernel is set up with, from its parameters cell (`prepare`).

A failed cell shows the workbook's own errors as their message (`plain_errors`). And between cells the kernel hands
back what a cell needed only while it ran: the tokenizer's tables (`tokens.hand_back_tokenizer_memory`, 75 MB in each
kernel that validated, split or counted tokens), then the freed memory to the system. A learner leaves every kernel
open, and on Binder the kernels share 2 GB with JupyterLab, the engine and its trainer.
"""

from __future__ import annotations

import sys
from typing import Any

from .machine import return_freed_memory
from .plain_errors import show_errors_plainly


def between_cells(*_: Any) -> None:
    """After each cell: the tokenizer's tables let go (`tokens.hand_back_tokenizer_memory`), and freed memory
    returned to the system. Only what a cell imported is touched: a kernel that never counted tokens does not import
    the tokenizer (or the validator) for this."""
    tokens = sys.modules.get("ftwidgets.tokens")
    if tokens is not None:
        tokens.hand_back_tokenizer_memory()
    else:
        return_freed_memory()


def prepare(shell: Any = None) -> None:
    """Set up this IPython kernel for the workbook (plain errors, memory handed back between cells), once; does
    nothing outside IPython."""
    if shell is None:
        try:
            from IPython import get_ipython
        except ImportError:
            return
        shell = get_ipython()
    if shell is None:
        return
    show_errors_plainly(shell)
    if between_cells not in shell.events.callbacks["post_run_cell"]:
        shell.events.register("post_run_cell", between_cells)
