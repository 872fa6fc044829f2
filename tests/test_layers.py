"""Imports point downward only: the pure core never reaches the engine or the widgets, and the
notebooks reach the engine only through the client (`ftwidgets.client`)."""

import ast
import json
import re
import sys

import pytest

from .conftest import ROOT

PACKAGE = ROOT / "ftwidgets"
# the front doors may reach the engine (lazily, inside a function): the client factory, the ``ftw`` command, and the
# package's top level (`ftwidgets.export`, which reads a stopped or running engine's folder to take a model out)
FRONT_DOORS = {"backends.py", "cli.py", "__init__.py"}


def imported_modules(source: str, package: str, *, for_types: bool = True) -> set[str]:
    """Absolute names of every module `source` imports (relative imports resolved against `package`); without
    `for_types`, not those under ``if TYPE_CHECKING:``, which never run."""
    tree = ast.parse(source)
    if not for_types:
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
                node.body = []
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(p for p in (base, node.module or "") if p)
            names |= {module} | {f"{module}.{a.name}" for a in node.names}
    return names


CORE_SUBPACKAGES = ("runtime", "data", "graders", "evaluation", "review")  # the core's stages (pure Python)
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


def import_graph() -> dict[str, set[str]]:
    """Every module of the package and the package modules it imports when it runs, at the top or inside a function.
    Importing a submodule always imports its parent packages first, so an edge to one's own parent is no edge."""
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        parents = {name.rsplit(".", k)[0] for k in range(1, name.count(".") + 1)}
        imported = imported_modules(path.read_text(), package, for_types=False)
        graph[name] = {m for m in imported if m in modules} - parents - {name}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import circles: each group of modules that reach one another (Tarjan's strongly connected components)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while not group or group[-1] != node:
                group.append(stack.pop())
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_package_has_no_import_circles():
    """One direction everywhere: the client factory reaches the engine, never the engine it (`base_models` is the
    leaf both read); a process's parent imports its child's module over a types leaf, never the other way."""
    assert circles(import_graph()) == []


def test_a_circle_would_be_found():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize(
    "path",
    sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" and p.parent != PACKAGE / "widgets"),
    ids=lambda p: p.relative_to(PACKAGE).as_posix(),
)
def test_design_names_every_module(path):
    """DESIGN.md gives each module of the core, the graders and the engine its line (the widgets are one module per
    widget, named by its class): a module it does not name is a room nobody was told about."""
    design = (ROOT / "DESIGN.md").read_text()
    assert re.search(rf"(?<![\w.]){re.escape(path.stem)}(?!\w)", design), f"DESIGN.md never names {path.stem}"


def engine_rooms() -> list[list[str]]:
    """DESIGN.md's list of the engine's rooms, top to bottom: the names that open each entry of its block
    (``routes/`` is the routes package, ``chat, models`` two rooms on one line)."""
    design = (ROOT / "DESIGN.md").read_text()
    block = design.split("The rooms of `ftwidgets/engine/`", 1)[1].split("```\n", 2)[1]
    heads = [re.match(r"[\w/]+(?:, [\w/]+)*", line).group() for line in block.splitlines() if line[:1].strip()]
    return [[name.strip().rstrip("/") for name in head.split(",")] for head in heads]


def engine_room(module: str) -> str:
    """An engine module's room: ``ftwidgets.engine.routes.files`` is ``routes``."""
    return module.removeprefix("ftwidgets.engine.").split(".")[0]


def test_design_lists_the_engines_rooms_in_their_import_order():
    """Each room imports only rooms below it in DESIGN.md's list, and every module of the engine has its room there."""
    position = {name: n for n, names in enumerate(engine_rooms()) for name in names}
    graph = import_graph()
    modules = [m for m in graph if m.startswith("ftwidgets.engine.")]
    assert {engine_room(m) for m in modules} == set(position), "DESIGN.md's rooms are not the engine's modules"
    upward = sorted(
        f"{engine_room(m)} imports {engine_room(i)}, which DESIGN.md lists above it"
        for m in modules
        for i in graph[m]
        if i.startswith("ftwidgets.engine.")
        and engine_room(i) != engine_room(m)
        and position[engine_room(i)] <= position[engine_room(m)]
    )
    assert upward == [], "\n".join(upward)


def test_an_import_up_the_list_would_be_found(monkeypatch):
    """The check above can fail: with export listed last, its imports of the rooms above it are named."""
    rooms = engine_rooms()
    moved = [r for r in rooms if r != ["export"]] + [["export"]]
    monkeypatch.setattr(sys.modules[__name__], "engine_rooms", lambda: moved)
    with pytest.raises(AssertionError, match="export imports server, which DESIGN.md lists above it"):
        test_design_lists_the_engines_rooms_in_their_import_order()


# The core's stages, bottom first: each imports only from its own level or below. The flat modules are the rules
# every stage reads (the hyperparameters, the token counts, the scorers) and, on top, the workbook's glue.
CORE_LEVELS = [
    ["ftwidgets.runtime"],
    [
        "ftwidgets._version",
        "ftwidgets.base_models",
        "ftwidgets.early_stopping",
        "ftwidgets.job_options",
        "ftwidgets.hyperparams",
        "ftwidgets.tokens",
        "ftwidgets.curves",
        "ftwidgets.metrics",
        "ftwidgets.stats",
    ],
    ["ftwidgets.data"],
    ["ftwidgets.graders"],
    ["ftwidgets.evaluation"],
    ["ftwidgets.review"],
    ["ftwidgets.tasks", "ftwidgets.workbook", "ftwidgets.training"],
]


def core_level(module: str) -> int | None:
    for level, homes in enumerate(CORE_LEVELS):
        if any(module == home or module.startswith(home + ".") for home in homes):
            return level
    return None


def imports_up_the_stages(graph: dict[str, set[str]]) -> list[str]:
    return sorted(
        f"{m} imports {i}"
        for m in graph
        if core_level(m) is not None
        for i in graph[m]
        if core_level(i) is not None and core_level(i) > core_level(m)
    )


def test_the_cores_stages_import_only_downward():
    """runtime, the flat rules, data, graders, evaluation, review, then the workbook's glue: nothing imports up."""
    graph = import_graph()
    placed = {m for m in graph if core_level(m) is not None}
    front = {f"ftwidgets.{p.stem}" for p in PACKAGE.glob("*.py") if p.name in FRONT_DOORS - {"__init__.py"}}
    front.add("ftwidgets")
    assert placed | front | {m for m in graph if m.startswith(("ftwidgets.engine", "ftwidgets.widgets"))} == set(graph)
    assert imports_up_the_stages(graph) == []


def test_an_import_up_the_stages_would_be_found():
    assert imports_up_the_stages({"ftwidgets.data.split": {"ftwidgets.evaluation.evaluate"}}) == [
        "ftwidgets.data.split imports ftwidgets.evaluation.evaluate"
    ]
