"""No test module imports another test module; no scenario module imports conftest.py either.

Helpers tests share live in regular modules: under tests/, beside the tests (e.g.
tests/integration/automation/reports.py, tests/unit/harness/machine/fakes.py); for the
scenarios, `harness.report.*` (timelines, reports), `harness.cluster.*` (cluster helpers),
`harness.scenarios.lab` and `harness.scenarios.probes` (the scenarios' own), and their
conftest.py holds only fixtures and hooks.
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

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "harness" / "scenarios"
PACKAGE = "harness.scenarios"
HOMES = (
    "a regular module: under tests/, a helper module beside the tests (fakes.py, reports.py); for the "
    "scenarios, harness/report/ (timelines, reports), harness/cluster/ (cluster helpers), "
    "harness/scenarios/lab.py or probes.py (the scenarios' own)"
)


def scenario_files(folder: Path = SCENARIOS) -> list[Path]:
    return sorted(folder.glob("test_*.py")) + [folder / "conftest.py"]


def collected_files(root: Path = ROOT) -> list[Path]:
    """The scenarios, and every test module and conftest.py under tests/."""
    tests = [p for p in sorted((root / "tests").rglob("*.py")) if p.name == "conftest.py" or p.name.startswith("test_")]
    return scenario_files(root / "harness" / "scenarios") + tests


def module_of(path: Path, root: Path = ROOT) -> str:
    return ".".join(path.relative_to(root).with_suffix("").parts)


def is_test_module(module: str) -> bool:
    """`conftest` or `test_*` of `harness.scenarios`, `test_*` of a package under `tests` (the
    files pytest collects). Under tests/ a conftest.py may still export the fixtures' types
    (`Fba`, `Node`), which its test modules annotate with; the scenarios' conftest may not."""
    package, _, leaf = module.rpartition(".")
    if package == PACKAGE:
        return leaf == "conftest" or leaf.startswith("test_")
    return (package == "tests" or package.startswith("tests.")) and leaf.startswith("test_")


def regular_definitions(root: Path = ROOT) -> dict[str, list[str]]:
    """Top-level name -> the regular `harness` and `tests` modules that define it (not test modules or
    conftest), to say where an import should come from instead."""
    found: dict[str, list[str]] = {}
    for path in sorted((root / "harness").rglob("*.py")) + sorted((root / "tests").rglob("*.py")):
        module = module_of(path, root)
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


def resolve(node: ast.ImportFrom, package: str = PACKAGE) -> str:
    """The absolute module of a `from ... import` in a module of `package`."""
    if node.level == 0:
        return node.module or ""
    parts = package.split(".")
    base = parts[: len(parts) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def bad_imports(path: Path, package: str = PACKAGE) -> Iterator[BadImport]:
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if is_test_module(alias.name):
                    yield BadImport(path, node.lineno, alias.name, None)
        elif isinstance(node, ast.ImportFrom):
            module = resolve(node, package)
            for alias in node.names:
                if is_test_module(module):
                    yield BadImport(path, node.lineno, module, alias.name)
                elif is_test_module(f"{module}.{alias.name}"):  # from harness.scenarios import conftest
                    yield BadImport(path, node.lineno, f"{module}.{alias.name}", None)


def test_the_scenario_files_are_found() -> None:
    names = [p.name for p in scenario_files()]
    assert "conftest.py" in names and "test_bootstrap.py" in names and len(names) >= 6, names
    assert all(p.is_file() for p in scenario_files())


def test_the_test_files_under_tests_are_found() -> None:
    names = {module_of(p) for p in collected_files()}
    assert {"tests.integration.automation.conftest", "tests.unit.test_module_imports"} <= names
    assert "tests.integration.automation.fakes" not in names  # helpers are not test modules


def test_no_test_module_imports_a_test_module_or_conftest() -> None:
    homes = regular_definitions()
    found = [
        bad.message(homes)
        for path in collected_files()
        for bad in bad_imports(path, module_of(path).rpartition(".")[0])
    ]
    assert not found, "test modules import from test modules or conftest:\n" + "\n".join(found)


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
    ("source", "module"),
    [
        ("from .test_health_report import _healthy_node\n", "tests.integration.automation.test_health_report"),
        ("from tests.unit.harness.image.test_inject import _reader\n", "tests.unit.harness.image.test_inject"),
        ("from ..automation.test_join import x\n", "tests.integration.automation.test_join"),
    ],
)
def test_the_check_sees_imports_between_modules_under_tests(tmp_path: Path, source: str, module: str) -> None:
    path = tmp_path / "test_x.py"
    path.write_text(source)
    assert [b.module for b in bad_imports(path, "tests.integration.automation")] == [module]


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
