"""Console cursor waits, QMP event filters, SSH keys: pure logic, fake time."""

from __future__ import annotations

from pathlib import Path

import paramiko
import pytest

from harness.errors import NodeStateError
from harness.machine.console import Console
from harness.machine.qmp import event_matches
from harness.machine.ssh import CommandResult, SshKey
from harness.waits import WaitExpired
from tests.unit.harness.machine.fakes import FakeClock


def test_console_wait_consumes_matches(tmp_path: Path) -> None:
    log = tmp_path / "console.log"
    log.write_text("boot\nlogin: \nmore\nlogin: \n")
    con = Console(log)
    clock = FakeClock()
    assert con.wait_for_text(r"^login:", 5, clock=clock, sleep=clock.sleep).start() == 5
    assert con.wait_for_text(r"^login:", 5, clock=clock, sleep=clock.sleep).start() > 5
    with pytest.raises(WaitExpired) as info:
        con.wait_for_text(r"^login:", 5, clock=clock, sleep=clock.sleep)
    assert "console text matching '^login:' in console.log" in str(info.value)


def test_console_timeout_none_is_bounded_and_shows_tail(tmp_path: Path) -> None:
    log = tmp_path / "c.log"
    log.write_text("".join(f"line {i}\n" for i in range(40)))
    clock = FakeClock()
    with pytest.raises(WaitExpired) as info:
        Console(log).wait_for_text("never", None, clock=clock, sleep=clock.sleep)
    assert info.value.budget == 900.0
    assert "line 39" in str(info.value) and "line 19\n" not in str(info.value)


def test_console_missing_log_and_send_without_socket(tmp_path: Path) -> None:
    con = Console(tmp_path / "none.log")
    assert con.text() == ""
    with pytest.raises(NodeStateError, match="start\\(\\) the node first"):
        con.send("x")


def test_event_filters() -> None:
    ev = {"event": "SHUTDOWN", "data": {"guest": True, "reason": "guest-shutdown"}}
    assert event_matches(ev, "SHUTDOWN")
    assert event_matches(ev, {"event": "SHUTDOWN", "data": {"guest": True}})
    assert not event_matches(ev, {"event": "SHUTDOWN", "data": {"guest": False}})
    assert not event_matches(ev, {"event": "STOP"})
    assert not event_matches({"event": "X"}, {"data": {"a": 1}})


def test_ssh_key_roundtrip(tmp_path: Path) -> None:
    key = SshKey.generate("run-1")
    assert key.public_line.startswith("ssh-ed25519 ") and key.public_line.endswith(" run-1")
    assert isinstance(key.pkey(), paramiko.Ed25519Key)
    path = key.write(tmp_path / "id")
    assert path.stat().st_mode & 0o777 == 0o600
    assert SshKey.generate().public_line != key.public_line


def test_command_result_is_frozen() -> None:
    res = CommandResult(1, "o", "e", 0.1)
    assert res.output == "o\ne"
    with pytest.raises(AttributeError):
        res.rc = 0  # type: ignore[misc]


def test_console_fatal_line_fails_at_once(tmp_path: Path) -> None:
    from harness.errors import ConsoleFatal

    log = tmp_path / "c.log"
    log.write_text("booting\nKernel panic - not syncing: VFS\n")
    clock = FakeClock()
    with pytest.raises(ConsoleFatal, match="fatal console line 'Kernel panic'"):
        Console(log).wait_for_text("READY", 300, clock=clock, sleep=clock.sleep, fatal="Kernel panic")
    assert clock.now - 1000 < 1


def test_console_precheck_aborts_the_wait(tmp_path: Path) -> None:
    def dead() -> None:
        raise NodeStateError("qemu exited")

    clock = FakeClock()
    with pytest.raises(NodeStateError, match="qemu exited"):
        Console(tmp_path / "x.log").wait_for_text("READY", 300, clock=clock, sleep=clock.sleep, precheck=dead)
