"""Imports point downward only: the pure core never reaches the engine or the widgets, and the
notebooks reach the engine only through the client (`ftwidgets.client`)."""

import ast
import json

import pytest

from .conftest import ROOT

PACKAGE = ROOT / "ftwidgets"
# the front doors may reach the engine (lazily, inside a function): the client factory, the ``ftw`` command, and the
# package's top level (`ftwidgets.export`, which reads a stopped or running engine's folder to take a model out)
FRONT_DOORS = {"backends.py", "cli.py", "__init__.py"}


def imported_modules(source: str, package: str) -> set[str]:
    """Absolute names of every module `source` imports (relative imports resolved against `package`)."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(p for p in (base, node.module or "") if p)
            names |= {module} | {f"{module}.{a.name}" for a in node.names}
    return names


CORE_SUBPACKAGES = ("graders",)  # the core's own subpackages (pure Python, like the flat modules)
CORE = sorted(
    [p for p in PACKAGE.glob("*.py") if p.name not in FRONT_DOORS]
    + [p for sub in CORE_SUBPACKAGES for p in (PACKAGE / sub).glob("*.py")]
)


@pytest.mark.parametrize("path", CORE, ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_the_core_imports_neither_the_engine_nor_the_widgets(path):
    package = ".".join(("ftwidgets", *path.relative_to(PACKAGE).parent.parts))
    names = imported_modules(path.read_text(), package)
    assert not {n for n in names if n.startswith(("ftwidgets.engine", "ftwidgets.widgets"))}, path.name


def test_a_python_graders_process_imports_nothing_of_the_package():
    """The sandbox's child runs as ``python -I`` on its own file: it must stand without ftwidgets."""
    names = imported_modules((PACKAGE / "graders" / "sandbox_child.py").read_text(), "ftwidgets.graders")
    assert not {n for n in names if n.startswith("ftwidgets")}


@pytest.mark.parametrize("path", sorted((PACKAGE / "widgets").glob("*.py")), ids=lambda p: p.name)
def test_widgets_never_import_the_engine(path):
    names = imported_modules(path.read_text(), "ftwidgets.widgets")
    assert not {n for n in names if n.startswith("ftwidgets.engine")}, path.name


@pytest.mark.parametrize("path", sorted((ROOT / "notebooks").glob("*.ipynb")), ids=lambda p: p.name)
def test_notebooks_reach_the_engine_only_through_the_client(path):
    code = "\n".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code")
    assert "ftwidgets.engine" not in code, path.name


def test_the_resolver_sees_relative_imports():
    assert "ftwidgets.engine.server" in imported_modules("from .engine.server import x", "ftwidgets")
    assert "ftwidgets.engine" in imported_modules("from ..engine import start", "ftwidgets.widgets")
