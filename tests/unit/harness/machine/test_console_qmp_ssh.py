"""Console cursor waits, QMP event filters, SSH keys: pure logic, fake time."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
from pathlib import Path

import paramiko
import pytest

from harness.errors import NodeStateError
from harness.machine.console import Console
from harness.machine.qmp import event_matches
from harness.machine.ssh import CommandResult, SshKey, detached, relay_stderr, sftp_get_tree, sftp_put_tree
from harness.waits import WaitExpired, wait_until
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


class DirSftp:
    """`SftpLike` over a host directory standing for the guest's `/` (paramiko semantics:
    `put` and `get` copy bytes only, `mkdir` fails on an existing directory)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _p(self, path: str) -> Path:
        return self.root / path.lstrip("/")

    def stat(self, path: str) -> paramiko.SFTPAttributes:
        return paramiko.SFTPAttributes.from_stat(os.stat(self._p(path)))

    def listdir(self, path: str = ".") -> list[str]:
        return os.listdir(self._p(path))

    def mkdir(self, path: str, mode: int = 0o777) -> None:
        self._p(path).mkdir(mode)

    def chmod(self, path: str, mode: int) -> None:
        self._p(path).chmod(mode)

    def get(self, remotepath: str, localpath: str) -> None:
        Path(localpath).write_bytes(self._p(remotepath).read_bytes())

    def put(self, localpath: str, remotepath: str) -> paramiko.SFTPAttributes:
        dest = self._p(remotepath)
        dest.write_bytes(Path(localpath).read_bytes())
        dest.chmod(0o644)  # what a fresh SFTP file gets under umask 022
        return paramiko.SFTPAttributes()


def test_sftp_trees_copy_recursively_and_keep_modes(tmp_path: Path) -> None:
    guest = tmp_path / "guest"
    (guest / "opt").mkdir(parents=True)
    src = tmp_path / "tool"
    (src / "bin").mkdir(parents=True)
    (src / "bin/run.sh").write_text("#!/bin/sh\n")
    (src / "bin/run.sh").chmod(0o750)
    (src / "README").write_text("r")
    sftp = DirSftp(guest)
    sftp_put_tree(sftp, src, "/opt/tool")
    assert stat.S_IMODE((guest / "opt/tool/bin/run.sh").stat().st_mode) == 0o750
    assert (guest / "opt/tool/README").read_text() == "r"
    sftp_put_tree(sftp, src, "/opt/tool")  # again, into the existing tree
    back = tmp_path / "back"
    sftp_get_tree(sftp, "/opt/tool", back)
    assert (back / "bin/run.sh").read_text() == "#!/bin/sh\n"
    assert stat.S_IMODE((back / "bin/run.sh").stat().st_mode) == 0o750


def _channel(command: str) -> subprocess.Popen[bytes]:
    """bash -c `command` with stdout/stderr on pipes standing for the SSH channel."""
    return subprocess.Popen(["bash", "-c", command], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)  # fmt: skip


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


BACKGROUND = ("set -euo pipefail; (for i in $(seq 200); do echo tick $i >&2; echo $i > {marker}; sleep 0.05; "
              "done) >&2 & echo $!")  # fmt: skip


@pytest.mark.parametrize("relayed", [True, False])
def test_background_child_survives_the_channel_closing_only_with_the_relay(tmp_path: Path, relayed: bool) -> None:
    """`server >&2 &` then the channel closes (as SshSession.run does after the shell exits):
    with `relay_stderr` the child keeps running and writing; without it, it dies of SIGPIPE."""
    marker, log = tmp_path / "marker", tmp_path / "stderr.log"
    command = BACKGROUND.format(marker=marker)
    proc = _channel(relay_stderr(command, log=str(log)) if relayed else command)
    assert proc.stdout is not None and proc.stderr is not None
    pid = int(proc.stdout.readline())
    proc.wait(timeout=10)
    proc.stderr.close()  # the channel is gone
    try:

        def progressed(_left: float) -> bool:
            count = marker.read_text().strip() if marker.exists() else ""
            return (not _alive(pid)) if not relayed else (count.isdigit() and int(count) >= 40)

        wait_until(progressed, what="the background child", timeout=10)
        if relayed:
            assert _alive(pid) and "tick 40" in log.read_text()
        else:
            assert not marker.exists() or int(marker.read_text()) < 200, "died (SIGPIPE) before finishing"
    finally:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_relay_keeps_foreground_stdout_and_stderr_apart(tmp_path: Path) -> None:
    proc = _channel(relay_stderr("set -euo pipefail; echo '{\"a\": 1}'; echo progress >&2; exit 3",
                                 log=str(tmp_path / "l")))  # fmt: skip
    out, err = proc.communicate(timeout=10)
    assert (proc.returncode, out, err) == (3, b'{"a": 1}\n', b"progress\n")
    assert detached("poweroff").startswith("setsid -f bash -c poweroff </dev/null >>")
