"""Every driver script in tests/vm/compat/scripts, checked without booting anything.

Each script must compile; name only globals the driver defines or the script binds itself; call
on a node only driver verbs that `Node` implements, with arguments its signature accepts (a
keyword from a newer driver, such as `attempt_timeout=`, fails here); and pass
`script_problem`. The scripts reduced to one display verb (`GUI_SCRIPTS`) are the exception:
for them `script_problem` must name exactly that verb in one line, and `cluster-test` must
exit 4 before booting. So a script using a verb we lack fails in the unit tier, in seconds,
rather than minutes into a boot in the VM tier.

Which names are nodes is worked out from the script (flow-insensitively): `machine`,
`node01`..`node09`, names assigned from them (`server, client = node01, node02`), loop and
comprehension variables over lists of them or over `machines`, `x[i]` of such a list, and the
parameters of script functions called with a node (`install(server)`).
"""

from __future__ import annotations

import ast
import builtins
import inspect
import unittest
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from harness import cli
from harness.driver import Driver, script_problem
from harness.log import RunLog
from harness.machine.node import Node
from harness.machine.unsupported import UNSUPPORTED_VERBS
from harness.parity import DRIVER_MACHINE_VERBS
from tests.unit.harness.machine.fakes import FakeClock, FakeNode

SCRIPTS_DIR = Path(__file__).resolve().parents[2] / "vm/compat/scripts"
SCRIPTS = sorted(SCRIPTS_DIR.glob("*.py"))
GUI_SCRIPTS = {
    "nixos_driver_x11.py": "wait_for_x",
    "nixos_driver_ocr.py": "wait_for_text",
    "nixos_driver_tty.py": "wait_until_tty_matches",
}
"""Upstream scripts that need a display or virtual terminals, kept as their one unsupported call."""

NODE_DATA = frozenset({"name", "booted"})
"""Attributes a script may read on a node besides verbs (the driver's `Machine` has both)."""
NODE_GLOBALS = frozenset({"machine", *(f"node{i:02d}" for i in range(1, 10))})
_DRIVER = Driver([])
SYMBOLS: dict[str, Any] = _DRIVER.test_symbols()
GLOBALS = frozenset(SYMBOLS) | NODE_GLOBALS | frozenset(dir(builtins))


@dataclass
class Scope:
    """What a script binds to nodes: single nodes, lists of nodes, and functions' node params."""

    nodes: set[str] = field(default_factory=lambda: set(NODE_GLOBALS))
    lists: set[str] = field(default_factory=lambda: {"machines"})

    def is_node(self, expr: ast.expr) -> bool:
        if isinstance(expr, ast.Name):
            return expr.id in self.nodes
        return isinstance(expr, ast.Subscript) and self.is_list(expr.value)

    def is_list(self, expr: ast.expr) -> bool:
        if isinstance(expr, ast.Name):
            return expr.id in self.lists
        if isinstance(expr, (ast.List, ast.Tuple)):
            return bool(expr.elts) and all(self.is_node(e) for e in expr.elts)
        if isinstance(expr, ast.ListComp):
            return self.is_node(expr.elt)
        return False


def _params(fn: ast.FunctionDef) -> list[str]:
    return [a.arg for a in [*fn.args.posonlyargs, *fn.args.args]]


def _bindings(tree: ast.AST, scope: Scope) -> Iterator[tuple[str, str]]:
    """(name, "node" | "list") for every binding the scope so far makes a node or a node list."""
    functions = {f.name: f for f in ast.walk(tree) if isinstance(f, ast.FunctionDef)}
    for node in ast.walk(tree):
        pairs: list[tuple[ast.expr, ast.expr]] = []
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
                    pairs += zip(target.elts, node.value.elts, strict=False)
                else:
                    pairs.append((target, node.value))
        for target, value in pairs:
            if isinstance(target, ast.Name) and scope.is_node(value):
                yield target.id, "node"
            elif isinstance(target, ast.Name) and scope.is_list(value):
                yield target.id, "list"
        if isinstance(node, (ast.For, ast.comprehension)) and isinstance(node.target, ast.Name):
            if scope.is_list(node.iter):
                yield node.target.id, "node"
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in functions:
            params = _params(functions[node.func.id])
            for param, arg in zip(params, node.args, strict=False):
                if scope.is_node(arg):
                    yield param, "node"


def node_scope(tree: ast.AST) -> Scope:
    scope = Scope()
    while True:
        found = [(name, kind) for name, kind in _bindings(tree, scope)
                 if name not in (scope.nodes if kind == "node" else scope.lists)]  # fmt: skip
        if not found:
            return scope
        for name, kind in found:
            (scope.nodes if kind == "node" else scope.lists).add(name)


def bound_names(tree: ast.AST) -> set[str]:
    """Every name the script binds anywhere (flow-insensitive)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        elif isinstance(node, ast.Global):
            names |= set(node.names)
    return names


def _accepts(fn: Any, call: ast.Call, *, bound: bool) -> str | None:
    """Why `fn` cannot take the call's arguments (counted, not evaluated), or None."""
    if any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
        return None  # *args / **kwargs: not checkable statically
    args = [None] * (len(call.args) + (0 if bound else 1))  # `self` for an unbound method
    try:
        inspect.signature(fn).bind(*args, **{k.arg: None for k in call.keywords if k.arg})
    except TypeError as err:
        return str(err)
    return None


def problems(script: Path, *, allowed_unsupported: frozenset[str] = frozenset()) -> list[str]:
    """What in `script` names a global, a node verb or verb argument the driver lacks."""
    text = script.read_text()
    tree = ast.parse(text, filename=str(script))
    compile(text, str(script), "exec")
    scope = node_scope(tree)
    known = GLOBALS | bound_names(tree)
    found: list[str] = []
    for node in ast.walk(tree):
        where = f"{script.name}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id not in known:
            found.append(f"{where}: {node.id} is neither a driver global nor bound by the script")
        if isinstance(node, ast.Attribute) and scope.is_node(node.value):
            verb = node.attr
            if verb in NODE_DATA:
                continue
            if verb not in DRIVER_MACHINE_VERBS:
                found.append(f"{where}: {verb} is not a driver verb (harness.parity.DRIVER_MACHINE_VERBS)")
            elif verb in UNSUPPORTED_VERBS and verb not in allowed_unsupported:
                found.append(f"{where}: {verb} is unsupported here (UNSUPPORTED_VERBS)")
            elif not hasattr(Node, verb):
                found.append(f"{where}: Node has no {verb}")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and scope.is_node(node.func.value):
            method = getattr(Node, node.func.attr, None)
            why = _accepts(method, node, bound=False) if callable(method) else None
            if why:
                found.append(f"{where}: {node.func.attr}(...): {why}")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in SYMBOLS:
            if node.func.id not in bound_names(tree) and callable(SYMBOLS[node.func.id]):
                why = _accepts(SYMBOLS[node.func.id], node, bound=True)
                if why:
                    found.append(f"{where}: {node.func.id}(...): {why}")
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            owner = {"driver": _DRIVER, "t": unittest.TestCase, "log": SYMBOLS["log"]}.get(node.value.id)
            if owner is not None and node.value.id not in bound_names(tree) and not hasattr(owner, node.attr):
                found.append(f"{where}: {node.value.id}.{node.attr} does not exist here")
    return found


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_compat_script_names_only_what_the_driver_has(script: Path) -> None:
    gui_verb = GUI_SCRIPTS.get(script.name)
    allowed = frozenset({gui_verb}) if gui_verb else frozenset()
    assert problems(script, allowed_unsupported=allowed) == []
    if gui_verb is None:
        assert script_problem(script) is None


@pytest.mark.parametrize(("name", "verb"), sorted(GUI_SCRIPTS.items()))
def test_a_gui_script_is_refused_before_booting_in_one_line_naming_its_verb(
    name: str, verb: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = SCRIPTS_DIR / name
    calls = [
        (n.func.attr, n.lineno)
        for n in ast.walk(ast.parse(script.read_text()))
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in UNSUPPORTED_VERBS
    ]
    assert [called for called, _ in calls] == [verb], "one unsupported call, no more"
    problem = script_problem(script)
    assert problem is not None and "\n" not in problem
    assert problem.startswith(f"{script}:{calls[0][1]}: {verb} is not supported by this harness")
    report = tmp_path / "run"
    rc = cli.run(["--script", str(script), "--nodes", "1", "--report", str(report)])
    err = capsys.readouterr().err
    assert (rc, err) == (cli.Exit.USAGE, f"cluster-test: --script: {problem}\n")
    assert not report.exists(), "nothing was set up, let alone booted"


def test_every_compat_script_is_checked() -> None:
    assert len(SCRIPTS) >= 8 and set(GUI_SCRIPTS) <= {s.name for s in SCRIPTS}


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('machine.wait_for_unit_sub_state("x.service", "running")\n', "wait_for_unit_sub_state is not a driver"),
        ('node02.wait_until_succeeds("true", attempt_timeout=2)\n', "unexpected keyword argument 'attempt_timeout'"),
        ("server, client = node01, node02\nclient.frobnicate()\n", "frobnicate is not a driver verb"),
        ("for m in machines:\n    m.screenshot('x')\n", "screenshot is unsupported here"),
        ("def install(n):\n    n.copy_from_host()\ninstall(node03)\n", "copy_from_host(...): missing a required"),
        ("xs = [node01, node02]\nxs[1].wait_for_x()\n", "wait_for_x is unsupported here"),
        ('with must_raise("x"):\n    pass\n', "must_raise is neither a driver global nor bound"),
        ("retry(lambda x: x, timeout=1, attempt_timeout=1)\n", "retry(...): got an unexpected keyword"),
        ("driver.vhost_vsock\n", "driver.vhost_vsock does not exist here"),
        ("t.assertEqualish(1, 1)\n", "t.assertEqualish does not exist here"),
    ],
)
def test_the_check_catches_what_the_driver_lacks(tmp_path: Path, text: str, says: str) -> None:
    script = tmp_path / "s.py"
    script.write_text(text)
    found = problems(script)
    assert found and says in found[0], found


def test_the_check_passes_what_the_driver_has(tmp_path: Path) -> None:
    script = tmp_path / "s.py"
    script.write_text(
        "import time\n"
        "server, client = node01, node02\n"
        "for node in [server, client]:\n"
        "    node.wait_until_succeeds('true', timeout=5)\n"
        "others = [m for m in machines if m is not server]\n"
        "others[0].block()\n"
        "def check(n, what):\n"
        "    return n.succeed(what, timeout=3)\n"
        "check(client, 'true')\n"
        "t.assertEqual(machine.name, 'node01')\n"
        "print(driver.out_dir, time.monotonic(), client.booted)\n"
        "with subtest('x'):\n"
        "    retry(lambda last: True, timeout=3)\n"
    )
    assert problems(script) == []


def _shell_like(command: str, _timeout: float) -> tuple[int, str, float]:
    """`true`/`false` as a shell answers them; every `systemctl show` says the unit is active."""
    if "systemctl" in command and "show" in command:
        return 0, "ActiveState=active\nSubState=active\n--jobs--\n", 0.1
    return (1 if command.strip() == "false" else 0), "", 0.1


@pytest.mark.parametrize("name", ["nixos_driver_polling_condition.py", "nixos_driver_systemd.py"])
def test_scripts_that_need_no_guest_state_pass_on_a_fake_node(name: str) -> None:
    """The adapted scripts whose guest commands are only `true`/`false`/`systemctl show` run on a
    fake node: their expectations (error texts, descriptions) match what the driver here does."""
    clock = FakeClock()
    node = FakeNode("node01", _shell_like, clock)
    driver = Driver([node], run_log=RunLog(quiet=True), clock=clock, sleep=clock.sleep)
    driver.run_script(SCRIPTS_DIR / name)
    assert driver.subtests and all(s.failure is None for s in driver.subtests)
