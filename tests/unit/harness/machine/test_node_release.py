"""A node lets go of its own pieces: `release()` (for `--keep`) closes the sessions and forgets
the reaper registration but leaves QEMU running; `crash()` stops QEMU and releases everything
else even when a part fails. Both are idempotent and say what failed."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from harness.errors import InfrastructureError, TeardownError
from harness.machine import reaper
from harness.machine.config import NodeConfig
from harness.machine.node import Node, NodeState
from harness.machine.qemu import DirectBoot
from tests.unit.harness.machine.fakes import FakeQemu


class FakeSession:
    def __init__(self, name: str, fails: bool = False) -> None:
        self.name = name
        self.fails = fails
        self.closed = 0
        self.alive = True

    def close(self) -> None:
        self.closed += 1
        self.alive = False
        if self.fails:
            raise OSError(f"{self.name} socket jammed")

    def quit(self) -> None:  # QMP's
        pass


def running(tmp_path: Path, *, qmp_fails: bool = False, ssh_fails: bool = False) -> tuple[Node, list[str]]:
    """A node as `start()` leaves it, with fakes for QEMU and its sessions; the list records
    whether the reaper would still tear it down."""
    cfg = NodeConfig(name="node01", state_dir=tmp_path / "n1", boot=DirectBoot(Path("/k"), Path("/i")))
    node = Node(cfg)
    sock_dir = tmp_path / "sock"
    sock_dir.mkdir()
    reaped: list[str] = []
    node._proc = FakeQemu()  # type: ignore[assignment]
    node._qmp = FakeSession("qmp", qmp_fails)  # type: ignore[assignment]
    node._ssh = FakeSession("ssh", ssh_fails)  # type: ignore[assignment]
    node._sock_dir = sock_dir
    node._token = reaper.register("node node01 (test)", lambda: reaped.append("node01"))
    node._to(NodeState.STARTING)
    node._to(NodeState.RUNNING)
    return node, reaped


@pytest.fixture(autouse=True)
def _empty_reaper() -> None:
    reaper.teardown_all()


def test_release_leaves_qemu_running_and_closes_the_sessions(tmp_path: Path) -> None:
    node, reaped = running(tmp_path)
    qemu, qmp, ssh = node._proc, node._qmp, node._ssh
    node.release()
    assert node.booted and node.state is NodeState.RUNNING and qemu.signals == []  # type: ignore[union-attr]
    assert (qmp.closed, ssh.closed) == (1, 1)  # type: ignore[union-attr]
    assert node.qmp_socket == tmp_path / "sock" / "qmp.sock", "attach commands still name the QMP socket"
    assert reaper.teardown_all() == [] and reaped == [], "released: interpreter exit must not stop it"
    node.release()  # idempotent
    assert (qmp.closed, ssh.closed) == (1, 1)  # type: ignore[union-attr]
    node.crash()  # a released node can still be stopped
    assert not node.booted and qemu.signals == [signal.SIGTERM]  # type: ignore[union-attr]
    assert node.state is NodeState.STOPPED


def test_release_closes_every_session_even_when_one_fails_and_says_which(tmp_path: Path) -> None:
    node, reaped = running(tmp_path, ssh_fails=True)
    qmp = node._qmp
    with pytest.raises(TeardownError) as info:
        node.release()
    assert str(info.value) == "node01: release: SSH session: ssh socket jammed"
    assert qmp.closed == 1  # type: ignore[union-attr]
    assert reaper.teardown_all() == [] and reaped == []
    node.release()  # the failed session was dropped: nothing left to fail


def test_release_of_a_node_never_started_does_nothing(tmp_path: Path) -> None:
    cfg = NodeConfig(name="node01", state_dir=tmp_path / "n1", boot=DirectBoot(Path("/k"), Path("/i")))
    node = Node(cfg)
    node.release()
    node.release()
    assert not node.booted and not (tmp_path / "n1").exists()


def test_crash_stops_qemu_and_releases_the_rest_even_when_a_session_fails(tmp_path: Path) -> None:
    node, reaped = running(tmp_path, qmp_fails=True)
    qemu, ssh = node._proc, node._ssh
    with pytest.raises(TeardownError) as info:
        node.crash()
    assert str(info.value) == "node01: stop: QMP session: qmp socket jammed"
    assert qemu.signals == [signal.SIGTERM] and ssh.closed == 1  # type: ignore[union-attr]
    assert not node.booted and node.pid is None and node.qmp_socket is None
    assert node.state is NodeState.STOPPED, "every part was tried: stopped, with the failure reported"
    assert not (tmp_path / "sock").exists()
    assert reaper.teardown_all() == [] and reaped == [], "stopped: nothing left for the reaper"
    node.crash()  # idempotent: everything was dropped


def test_crash_reports_a_qemu_that_survives_sigkill(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    node, _ = running(tmp_path)
    monkeypatch.setattr("harness.machine.node.stop_process", lambda _proc, grace: None)
    with pytest.raises(TeardownError) as info:
        node.crash()
    assert str(info.value) == "node01: stop: QEMU: pid 4242 survived SIGKILL (stuck in the kernel?)"
    assert not (tmp_path / "sock").exists() and reaper.teardown_all() == []


@pytest.mark.parametrize("outlive_parent", [False, True])
def test_qemu_is_tied_to_the_harness_unless_the_node_may_be_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, outlive_parent: bool
) -> None:
    # Tied (PR_SET_PDEATHSIG), a SIGKILLed harness leaves no QEMU; but a node that may be kept
    # (--keep, --keep-on-failure) must outlive it: the tie killed every kept cluster.
    seen: list[object] = []

    def popen(*_args: object, **kwargs: object) -> None:
        seen.append(kwargs.get("preexec_fn"))
        raise OSError(2, "not started in this test")

    monkeypatch.setattr("harness.machine.node.subprocess.Popen", popen)
    cfg = NodeConfig(name="node01", state_dir=tmp_path / "n1", boot=DirectBoot(Path("/k"), Path("/i")),
                     outlive_parent=outlive_parent)  # fmt: skip
    with pytest.raises(InfrastructureError, match="cannot run"):
        Node(cfg).start()
    [tie] = seen
    assert (tie is None) is outlive_parent
