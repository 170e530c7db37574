"""The suite keeps its own habits: every test says in one line what it pins down."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).parent


def collected_tests(path: Path) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    """The test functions (and methods) of one module."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test")
    ]


def test_every_test_has_a_one_line_docstring() -> None:
    """Each test function in the tree has a docstring of exactly one line."""
    offenders = [
        f"{path.relative_to(TESTS)}:{node.lineno} {node.name}"
        for path in sorted(TESTS.rglob("test_*.py"))
        for node in collected_tests(path)
        if len((ast.get_docstring(node) or "").strip().splitlines()) != 1
    ]
    assert len(list(TESTS.rglob("test_*.py"))) > 40  # the walk really found the suite
    assert offenders == []
