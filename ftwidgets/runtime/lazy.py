"""A subpackage's public names, imported on first use: a notebook writes ``from ftwidgets.data import load_jsonl``
and its kernel loads `dataset` alone, not every module of the stage (each kernel of a learner's 2 GB session counts).

    >>> getattr_, names = exports("ftwidgets.runtime", {"machine": ["cuda_available"]})
    >>> names, getattr_("cuda_available").__module__
    (['cuda_available'], 'ftwidgets.runtime.machine')
    >>> exports("ftwidgets.runtime", {"disk": ["machine"]})
    Traceback (most recent call last):
    ...
    ImportError: ftwidgets.runtime: public names that are also its modules' names: machine
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from importlib import import_module
from pathlib import Path
from typing import Any


def exports(package: str, by_module: dict[str, list[str]]) -> tuple[Callable[[str], Any], list[str]]:
    """A module ``__getattr__`` for `package` that imports each public name from its module when first asked for,
    and the sorted names for ``__all__``."""
    home = {name: module for module, names in by_module.items() for name in names}
    folder = Path(sys.modules[package].__file__).parent
    if clashes := sorted(name for name in home if (folder / f"{name}.py").exists()):
        # once the module is imported, the package's attribute of that name is the module, not the function
        raise ImportError(f"{package}: public names that are also its modules' names: {', '.join(clashes)}")

    def __getattr__(name: str) -> Any:
        if name not in home:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(import_module(f"{package}.{home[name]}"), name)

    return __getattr__, sorted(home)
