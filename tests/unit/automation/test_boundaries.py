"""Package boundaries: automation imports no harness/standins; harness only automation.spec; standins neither."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def imports(package: str) -> list[tuple[str, str]]:
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found += [(str(path.relative_to(ROOT)), alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.append((str(path.relative_to(ROOT)), node.module))
    return found


def top(name: str) -> str:
    return name.split(".")[0]


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [("automation", {"harness", "standins"}), ("standins", {"automation", "harness"}), ("harness", {"standins"})],
)
def test_forbidden_imports(package: str, forbidden: set[str]) -> None:
    bad = [(f, m) for f, m in imports(package) if top(m) in forbidden]
    assert bad == []


def test_harness_uses_only_automation_spec() -> None:
    bad = [(f, m) for f, m in imports("harness") if top(m) == "automation" and not m.startswith("automation.spec")]
    assert bad == []


def test_automation_spec_imports_nothing_else_of_automation() -> None:
    bad = [
        (f, m)
        for f, m in imports("automation")
        if f.startswith("automation/spec/") and top(m) == "automation" and not m.startswith("automation.spec")
    ]
    assert bad == []
