"""The shape the README's "Layout of the code" promises: every module says what it
exports, in order, and no function grows past what a reader takes in at once."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from conftest import ROOT

MODULES = sorted(p for p in (ROOT / "qemuwrap").rglob("*.py") if p.name != "__main__.py")
LONGEST = 40


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@pytest.mark.parametrize("path", MODULES, ids=module_name)
def test_every_module_names_its_exports(path: Path) -> None:
    module = importlib.import_module(module_name(path))
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{path.name} has no __all__"
    assert all(hasattr(module, name) for name in exported)
    assert len(set(exported)) == len(exported)


def test_no_function_is_longer_than_a_screen() -> None:
    long = []
    for path in MODULES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1 if node.end_lineno else 0
                if lines > LONGEST:
                    long.append(f"{module_name(path)}.{node.name}: {lines} lines")
    assert not long
