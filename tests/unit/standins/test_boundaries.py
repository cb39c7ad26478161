"""standins meets the automation only over HTTP: it imports neither automation nor harness."""

from __future__ import annotations

import ast
from pathlib import Path

import standins


def test_standins_imports_neither_automation_nor_harness() -> None:
    root = Path(standins.__file__).parent
    offenders = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                if name.split(".")[0] in {"automation", "harness"}:
                    offenders.append(f"{path.name}: {name}")
    assert offenders == []
