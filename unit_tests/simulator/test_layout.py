"""The simulator's layout: state and rules, generation, mutations, ground truth, semantics, routes and HTTP each in
a module of its own, and no class doing several of those jobs (none over 500 lines)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "close_simulator"


def test_no_class_is_over_500_lines():
    sizes = {}
    for path in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                sizes[f"{path.name}:{node.name}"] = node.end_lineno - node.lineno + 1
    assert sizes and not {name: n for name, n in sizes.items() if n > 500}
