"""Each core subpackage's public names (what the notebooks import) resolve to what their modules define, whether or
not those modules were imported already, and none is a module: a name shared by a function and its module would be
the module once the module is loaded."""

import importlib
import subprocess
import sys
import types

import pytest

PACKAGES = ["ftwidgets.runtime", "ftwidgets.data", "ftwidgets.evaluation", "ftwidgets.review"]


@pytest.mark.parametrize("name", PACKAGES)
def test_every_public_name_is_its_modules_own_object(name):
    package = importlib.import_module(name)
    for public in package.__all__:
        value = getattr(package, public)
        assert not isinstance(value, types.ModuleType), f"{name}.{public} is a module"
        home = getattr(value, "__module__", None)  # a constant (a tuple of states) has none
        assert home is None or getattr(importlib.import_module(home), public) is value


def test_a_fresh_process_imports_each_public_name_after_every_module_is_loaded():
    """Load every module first (as a kernel that ran earlier cells has), then import each public name."""
    code = "\n".join(
        [
            "import importlib, pkgutil, types",
            f"for name in {PACKAGES!r}:",
            "    package = importlib.import_module(name)",
            "    for info in pkgutil.iter_modules(package.__path__):",
            "        importlib.import_module(f'{name}.{info.name}')",
            "    for public in package.__all__:",
            "        value = getattr(package, public)",
            "        assert not isinstance(value, types.ModuleType), (name, public)",
            "print('ok')",
        ]
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "ok", done.stderr[-2000:]
