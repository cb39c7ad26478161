"""No scenario test module imports another test module or conftest.py.

Helpers the scenarios share live in regular modules (`harness.report.*` for timelines and
reports, `harness.cluster.*` for cluster helpers, `harness.scenarios.lab` and
`harness.scenarios.probes` for the scenarios' own); conftest.py holds only fixtures and hooks.
Importing a test module runs its module-level code a second time under another name, and
importing conftest.py bypasses pytest's own loading of it. Checked statically with `ast`,
so nothing is imported or collected here.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[4]
SCENARIOS = ROOT / "harness" / "scenarios"
PACKAGE = "harness.scenarios"
HOMES = (
    "a regular module: harness/report/ (timelines, reports), harness/cluster/ (cluster helpers), "
    "harness/scenarios/lab.py or probes.py (the scenarios' own)"
)


def scenario_files(folder: Path = SCENARIOS) -> list[Path]:
    return sorted(folder.glob("test_*.py")) + [folder / "conftest.py"]


def is_test_module(module: str) -> bool:
    """`harness.scenarios.conftest` or `harness.scenarios.test_*` (the files pytest collects)."""
    package, _, leaf = module.rpartition(".")
    return package == PACKAGE and (leaf == "conftest" or leaf.startswith("test_"))


def regular_definitions(root: Path = ROOT) -> dict[str, list[str]]:
    """Top-level name -> the regular `harness` modules that define it (not test modules or
    conftest), to say where an import should come from instead."""
    found: dict[str, list[str]] = {}
    for path in sorted((root / "harness").rglob("*.py")):
        module = ".".join(path.relative_to(root).with_suffix("").parts)
        if is_test_module(module):
            continue
        for node in ast.parse(path.read_text(), str(path)).body:
            names: list[str] = []
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names = [node.name]
            elif isinstance(node, ast.Assign):
                names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names = [node.target.id]
            for name in names:
                found.setdefault(name, []).append(module)
    return found


@dataclass(frozen=True)
class BadImport:
    path: Path
    line: int
    module: str  # the test module or conftest imported from
    name: str | None  # what was imported from it; None for the module itself

    def message(self, homes: dict[str, list[str]], root: Path = ROOT) -> str:
        where = f"{self.path.relative_to(root)}:{self.line}"
        if self.name is None:
            return (f"{where}: imports the module {self.module}; test modules never import a test module "
                    f"or conftest: import what it needs from {HOMES}")  # fmt: skip
        what = f"{where}: imports {self.name} from {self.module}"
        modules = [m for m in homes.get(self.name, []) if m != self.module]
        if modules:
            return f"{what}; import it from {' or '.join(modules)} instead (from {modules[0]} import {self.name})"
        return f"{what}; move {self.name} into {HOMES}, and import it from there"


def resolve(node: ast.ImportFrom) -> str:
    """The absolute module of a `from ... import` in a module of `harness.scenarios`."""
    if node.level == 0:
        return node.module or ""
    base = PACKAGE.split(".")[: len(PACKAGE.split(".")) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def bad_imports(path: Path) -> Iterator[BadImport]:
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if is_test_module(alias.name):
                    yield BadImport(path, node.lineno, alias.name, None)
        elif isinstance(node, ast.ImportFrom):
            module = resolve(node)
            for alias in node.names:
                if is_test_module(module):
                    yield BadImport(path, node.lineno, module, alias.name)
                elif is_test_module(f"{module}.{alias.name}"):  # from harness.scenarios import conftest
                    yield BadImport(path, node.lineno, f"{module}.{alias.name}", None)


def test_the_scenario_files_are_found() -> None:
    names = [p.name for p in scenario_files()]
    assert "conftest.py" in names and "test_bootstrap.py" in names and len(names) >= 6, names
    assert all(p.is_file() for p in scenario_files())


def test_no_scenario_module_imports_a_test_module_or_conftest() -> None:
    homes = regular_definitions()
    found = [bad.message(homes) for path in scenario_files() for bad in bad_imports(path)]
    assert not found, "scenario modules import from test modules or conftest:\n" + "\n".join(found)


@pytest.mark.parametrize(
    ("source", "module", "name"),
    [
        ("from harness.scenarios.test_join_faults import write_fault_timeline\n",
         "harness.scenarios.test_join_faults", "write_fault_timeline"),
        ("from harness.scenarios.conftest import StepChain\n", "harness.scenarios.conftest", "StepChain"),
        ("from .conftest import report_dir\n", "harness.scenarios.conftest", "report_dir"),
        ("from . import test_replay\n", "harness.scenarios.test_replay", None),
        ("from harness.scenarios import conftest as c\n", "harness.scenarios.conftest", None),
        ("import harness.scenarios.test_recovery\n", "harness.scenarios.test_recovery", None),
        ("def f() -> None:\n    from harness.scenarios.conftest import finish_lab\n",
         "harness.scenarios.conftest", "finish_lab"),
    ],
)  # fmt: skip
def test_the_check_sees_every_form_of_import(tmp_path: Path, source: str, module: str, name: str | None) -> None:
    path = tmp_path / "test_x.py"
    path.write_text(source)
    assert [(b.module, b.name) for b in bad_imports(path)] == [(module, name)]


@pytest.mark.parametrize(
    "source",
    [
        "from harness.scenarios.lab import StepChain\n",
        "from harness.scenarios import lab, probes\n",
        "from . import settings\n",
        "from .probes import wait_run\n",
        "import harness.scenarios.outcomes\n",
        "from tests.unit.harness.machine.fakes import FakeClock\n",
    ],
)
def test_regular_modules_may_be_imported(tmp_path: Path, source: str) -> None:
    path = tmp_path / "test_x.py"
    path.write_text(source)
    assert list(bad_imports(path)) == []


def test_the_message_names_file_line_and_where_to_import_from(tmp_path: Path) -> None:
    path = tmp_path / "test_x.py"
    path.write_text("import json\nfrom harness.scenarios.conftest import wait_operational, nowhere\n")
    homes = {"wait_operational": ["harness.cluster.operational"]}
    first, second = (b.message(homes, root=tmp_path) for b in bad_imports(path))
    assert first == (
        "test_x.py:2: imports wait_operational from harness.scenarios.conftest; import it from "
        "harness.cluster.operational instead (from harness.cluster.operational import wait_operational)"
    )
    assert second.startswith("test_x.py:2: imports nowhere from harness.scenarios.conftest; move nowhere into ")
