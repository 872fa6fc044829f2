"""No function in the package is over 80 lines: a longer one holds two ideas, and each should have a name."""

import ast

from .conftest import ROOT

LIMIT = 80


def long_functions(source: str) -> list[tuple[str, int]]:
    return [
        (node.name, node.end_lineno - node.lineno + 1)
        for node in ast.walk(ast.parse(source))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > LIMIT
    ]


def test_no_function_in_the_package_is_over_80_lines():
    found = {
        f"{path.relative_to(ROOT)}:{name}": lines
        for path in sorted((ROOT / "ftwidgets").rglob("*.py"))
        for name, lines in long_functions(path.read_text())
    }
    assert found == {}


def test_a_long_function_would_be_found():
    body = "\n".join(f"    x = {n}" for n in range(LIMIT))
    assert long_functions(f"def f():\n{body}\n") == [("f", LIMIT + 1)]
