"""`Node.state`: one explicit lifecycle (not started, starting, running, stopping, stopped,
exited), driven through `start()`, a QEMU that ends by itself, `crash()` and `shutdown()`, with
fakes for the QEMU process and QMP (no process, no socket). A verb that needs QEMU says why it
cannot run and what to call instead."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from harness.errors import InfrastructureError, NodeStateError, WaitTimeout
from harness.machine import reaper
from harness.machine.config import NodeConfig
from harness.machine.node import Node, NodeState
from harness.machine.qemu import DirectBoot
from harness.machine.qmp import QmpSession
from harness.machine.snapshot import SavedState
from tests.unit.harness.machine.fakes import FakeQemu


class FakeQmp:
    """QMP whose `system_powerdown` powers the guest off at once; records the node's state."""

    def __init__(self, node: Node, qemu: FakeQemu) -> None:
        self.node, self.qemu = node, qemu
        self.seen: list[NodeState] = []

    def system_powerdown(self) -> None:
        self.seen.append(self.node.state)
        self.qemu.exit(0)

    def quit(self) -> None:
        self.qemu.exit(0)

    def close(self) -> None:
        pass

    def human_monitor_command(self, command: str) -> str:
        return "VM status: running"


class Launcher:
    """Stands in for `subprocess.Popen` and `QmpSession.connect` during `start()`."""

    def __init__(self, node: Node, *, qmp_silent: bool = False, dies_at_once: bool = False) -> None:
        self.node = node
        self.qmp_silent = qmp_silent
        self.dies_at_once = dies_at_once
        self.qemus: list[FakeQemu] = []
        self.qmps: list[FakeQmp] = []
        self.argvs: list[list[str]] = []

    def popen(self, argv: list[str], **_kw: Any) -> FakeQemu:
        self.argvs.append(argv)
        self.qemus.append(FakeQemu())
        return self.qemus[-1]

    def connect(self, socket: Path, **_kw: Any) -> FakeQmp:
        if self.dies_at_once:
            self.qemus[-1].exit(1)
        if self.qmp_silent or self.dies_at_once:
            raise WaitTimeout(f"QMP socket {socket}: nothing answered")
        self.qmps.append(FakeQmp(self.node, self.qemus[-1]))
        return self.qmps[-1]


@pytest.fixture
def node(tmp_path: Path) -> Node:
    reaper.teardown_all()
    cfg = NodeConfig(name="node01", state_dir=tmp_path / "n1", boot=DirectBoot(Path("/k"), Path("/i")))
    return Node(cfg)


def launcher(node: Node, monkeypatch: pytest.MonkeyPatch, **kw: bool) -> Launcher:
    fake = Launcher(node, **kw)
    monkeypatch.setattr(subprocess, "Popen", fake.popen)
    monkeypatch.setattr(QmpSession, "connect", fake.connect)
    return fake


def refused(node: Node) -> str:
    with pytest.raises(NodeStateError) as info:
        node.send_monitor_command("info status")
    return str(info.value)


def test_a_node_goes_through_its_states_and_each_refusal_names_the_fix(
    node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = launcher(node, monkeypatch)
    assert node.state is NodeState.NOT_STARTED and repr(node) == "<Node node01 not started>"
    assert refused(node) == ("node01.send_monitor_command: QEMU is not running; start() it first "
                             "(it was never started: call node01.start())")  # fmt: skip

    node.start()
    assert node.state is NodeState.RUNNING and node.booted and repr(node) == "<Node node01 running>"
    assert node.send_monitor_command("info status") == "VM status: running"

    fake.qemus[-1].exit(1)  # a panic under -no-reboot: nobody asked
    assert node.state is NodeState.EXITED and not node.booted
    assert refused(node) == (
        "node01.send_monitor_command: QEMU is not running; start() it first (QEMU exited by itself with rc 1, "
        f"{node.config.state_dir / 'console.log'} says why: call node01.start() to boot it again)"
    )

    node.start()  # releases the exited QEMU, then a fresh one
    assert node.state is NodeState.RUNNING and len(fake.qemus) == 2

    node.crash()
    assert node.state is NodeState.STOPPED and not node.booted
    assert refused(node) == ("node01.send_monitor_command: QEMU is not running; start() it first "
                             "(shutdown() or crash() stopped it: call node01.start() to boot it again)")  # fmt: skip
    node.crash()
    node.shutdown()
    assert node.state is NodeState.STOPPED, "stopping a stopped node changes nothing"
    assert reaper.teardown_all() == [], "a stopped node leaves nothing for the reaper"


def test_shutdown_is_stopping_until_qemu_is_gone(node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = launcher(node, monkeypatch)
    node.start()
    node.shutdown()
    assert fake.qmps[-1].seen == [NodeState.STOPPING], "the power button is pressed while stopping"
    assert node.state is NodeState.STOPPED and fake.qemus[-1].returncode == 0


def test_a_guest_that_powers_itself_off_is_exited_then_stopped(node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = launcher(node, monkeypatch)
    node.start()
    fake.qemus[-1].exit(0)  # `poweroff` in the guest
    node.wait_for_shutdown(timeout=5)
    assert node.state is NodeState.STOPPED


def test_a_silent_qmp_at_start_stops_the_node(node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = launcher(node, monkeypatch, qmp_silent=True)
    with pytest.raises(InfrastructureError, match="QEMU started but QMP is silent"):
        node.start()
    assert node.state is NodeState.STOPPED and fake.qemus[-1].returncode == -signal.SIGTERM


def test_a_qemu_that_dies_while_starting_is_exited(node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    launcher(node, monkeypatch, dies_at_once=True)
    with pytest.raises(InfrastructureError, match="QEMU exited with rc 1"):
        node.start()
    assert node.state is NodeState.EXITED
    node.crash()
    assert node.state is NodeState.STOPPED


def test_a_released_node_runs_on_and_says_where_qmp_went(node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    launcher(node, monkeypatch)
    node.start()
    node.release()
    assert node.state is NodeState.RUNNING and node.booted
    with pytest.raises(NodeStateError) as info:
        node.wait_for_qmp_event({"event": "STOP"})
    assert str(info.value) == ("node01.wait_for_qmp_event: QMP was closed by release() (the node is kept); "
                               "use its `qmp` attach command")  # fmt: skip
    node.crash()
    assert node.state is NodeState.STOPPED


def test_a_step_the_lifecycle_lacks_is_refused(node: Node) -> None:
    with pytest.raises(NodeStateError) as info:
        node._to(NodeState.RUNNING)
    assert str(info.value) == "node01: cannot go from not started to running (a harness bug)"
    assert node.state is NodeState.NOT_STARTED


def test_only_the_first_start_of_a_restored_node_loads_its_save(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A later start (after crash(), a reboot) is a power cycle: it boots from the node's disk.
    reaper.teardown_all()
    saved = SavedState(tmp_path / "snap" / "state.zst", None, 1, 0.0)
    cfg = NodeConfig(name="node01", state_dir=tmp_path / "n1", boot=DirectBoot(Path("/k"), Path("/i")), restore=saved)
    node = Node(cfg)
    fake = launcher(node, monkeypatch)
    node.start()
    assert "-incoming" in fake.argvs[0] and "-S" in fake.argvs[0]
    node.crash()
    node.start()
    assert "-incoming" not in fake.argvs[1] and "-S" not in fake.argvs[1]
    node.crash()
