"""Node command and unit verbs on a fake guest with a fake clock: bounds and messages."""

from __future__ import annotations

import json
import shlex
import stat
from pathlib import Path

import pytest

from harness.errors import CheckFailed, CommandFailed, CommandTimeout, HarnessError, UsageError, WaitTimeout
from harness.machine.commands import SLEEP_SLACK
from harness.machine.units import INACTIVE_GRACE
from harness.waits import WaitExpired
from tests.unit.harness.machine.fakes import FakeClock, FakeNode


def sleeper(command: str, timeout: float) -> tuple[int, str, float]:
    if command.startswith("sleep "):
        return 0, "", float(command.split()[1])
    return 0, "ok\n", 0.01


def test_wait_until_succeeds_sleep_999_returns_within_6_5_s_of_fake_time() -> None:
    clock = FakeClock()
    node = FakeNode("node01", sleeper, clock)
    begin = clock.now
    with pytest.raises(WaitTimeout) as info:
        node.wait_until_succeeds("sleep 999", timeout=5)
    assert clock.now - begin < 6.5
    text = str(info.value)
    assert "`sleep 999` to succeed on node01" in text
    assert "of a 5.0 s budget" in text
    assert "1 attempt" in text
    assert "last rc: none" in text
    assert "still running after 5.0 s" in text


def test_wait_until_succeeds_returns_output_once_it_passes() -> None:
    clock = FakeClock()
    answers = iter([(1, "no\n", 0.1), (1, "no\n", 0.1), (0, "yes\n", 0.1)])
    node = FakeNode("n", lambda _c, _t: next(answers), clock)
    assert node.wait_until_succeeds("probe", timeout=30) == "yes\n"
    assert node.started == 1  # a command on a stopped node starts it


def test_wait_until_fails_honours_its_timeout() -> None:
    clock = FakeClock()
    node = FakeNode("n", lambda _c, _t: (0, "still fine\n", 0.3), clock)
    begin = clock.now
    with pytest.raises(WaitExpired) as info:
        node.wait_until_fails("true", timeout=4)
    assert clock.now - begin < 4 + 0.5
    assert "last rc: 0" in str(info.value) and "still fine" in str(info.value)


def test_succeed_and_fail_messages_quote_command_and_rc() -> None:
    clock = FakeClock()
    node = FakeNode("n", lambda c, _t: (2 if c == "bad" else 0, "out\n", 0.0), clock)
    assert node.succeed("good", "good") == "out\nout\n"
    with pytest.raises(CommandFailed, match=r"command `bad` failed on n \(exit code 2\)"):
        node.succeed("bad")
    with pytest.raises(CommandFailed, match="command `good` unexpectedly succeeded on n"):
        node.fail("good")
    assert node.fail("bad") == "out\n"
    assert isinstance(CommandFailed("x"), AssertionError)


def test_succeed_timeout_none_is_bounded() -> None:
    clock = FakeClock()
    node = FakeNode("n", sleeper, clock)
    with pytest.raises(CommandTimeout):
        node.succeed("sleep 99999", timeout=None)
    assert clock.now - 1000 <= 900.0


def test_execute_driver_flags() -> None:
    node = FakeNode("n", lambda _c, _t: (4, "text", 0.0), FakeClock())
    assert node.execute("x") == (4, "text")
    assert node.execute("x", check_return=False) == (-1, "text")
    # The driver does not wait for a check_output=False command and returns (-2, "").
    assert node.execute("poweroff", check_output=False) == (-2, "")
    assert node.commands[-1].startswith("setsid -f bash -c ")
    assert "poweroff" in node.commands[-1] and "</dev/null >>/run/fba-command-stderr.log 2>&1" in node.commands[-1]


def json_with_progress(command: str, _t: float) -> tuple[int, str, float, str]:
    return (1 if "fails" in command else 0), '{"a": 1}\n', 0.1, "  % Total  progress 100%\n"


def test_output_verbs_return_stdout_only() -> None:
    """stderr (curl's progress) goes to the log; every verb returns stdout, as the driver."""
    node = FakeNode("n", json_with_progress, FakeClock())
    assert json.loads(node.succeed("curl x")) == {"a": 1}
    assert json.loads(node.execute("curl x")[1]) == {"a": 1}
    assert json.loads(node.wait_until_succeeds("curl x", timeout=10)) == {"a": 1}
    assert json.loads(node.wait_until_fails("curl fails", timeout=10)) == {"a": 1}
    assert json.loads(node.fail("curl fails")) == {"a": 1}


def test_stderr_still_shows_in_failure_text() -> None:
    node = FakeNode("n", json_with_progress, FakeClock())
    with pytest.raises(CommandFailed, match="progress 100%"):
        node.succeed("curl fails")


def test_polling_hooks_run_before_every_attempt_of_a_wait() -> None:
    clock = FakeClock()
    answers = iter([(1, "", 0.1), (1, "", 0.1), (0, "up\n", 0.1)])
    node = FakeNode("n", lambda _c, _t: next(answers), clock)
    seen: list[int] = []
    node.before_command.append(lambda: seen.append(len(node.commands)))
    assert node.wait_until_succeeds("probe", timeout=30) == "up\n"
    assert seen == [0, 1, 2], "one check before each of the three attempts"


def test_failing_polling_condition_ends_a_wait_at_once() -> None:
    clock = FakeClock()
    node = FakeNode("n", lambda _c, _t: (1, "", 0.1), clock)
    calls = [0]

    def condition() -> None:
        calls[0] += 1
        if calls[0] == 3:
            raise CheckFailed("Polling condition failed: server alive")

    node.before_command.append(condition)
    begin = clock.now
    with pytest.raises(CheckFailed, match="^Polling condition failed: server alive$"):
        node.wait_until_succeeds("probe", timeout=600)
    assert clock.now - begin < 10 and len(node.commands) == 2
    calls[0] = 2
    with pytest.raises(CheckFailed):
        node.wait_for_file("/x", timeout=600)
    calls[0] = 2
    with pytest.raises(CheckFailed):
        node.wait_for_unit("x.service", timeout=600)


def test_sleep_sleeps_in_guest_time() -> None:
    clock = FakeClock()
    node = FakeNode("n", sleeper, clock)
    node.sleep(12)
    assert node.commands == ["sleep 12"] and clock.now == 1012.0
    frozen = FakeNode("n", lambda _c, _t: (0, "", 1e9), clock)
    begin = clock.now
    with pytest.raises(CommandTimeout):
        frozen.sleep(5)
    assert clock.now - begin == pytest.approx(5 + SLEEP_SLACK)


def file_guest(root: Path, dirs: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
    """A guest that answers `test -d` from `dirs` and really runs `mkdir -p -- X` under root."""

    def guest(command: str, _t: float) -> tuple[int, str, float]:
        if command.startswith("test -d "):
            return (0 if shlex.split(command)[2] in dirs else 1), "", 0.0
        if command.startswith("mkdir -p -- "):
            (root / shlex.split(command)[3].lstrip("/")).mkdir(parents=True, exist_ok=True)
        return 0, "", 0.0

    return guest


def test_copy_from_host_creates_parents_and_keeps_the_mode(tmp_path: Path) -> None:
    root = tmp_path / "guest"
    root.mkdir()
    script = tmp_path / "run.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o755)
    node = FakeNode("n", file_guest(root), FakeClock(), guest_root=root)
    node.copy_from_host(script, "/opt/new dir/bin/run.sh")
    assert "mkdir -p -- '/opt/new dir/bin'" in node.commands
    copied = root / "opt/new dir/bin/run.sh"
    assert copied.read_text() == script.read_text() and stat.S_IMODE(copied.stat().st_mode) == 0o755


def test_copy_from_host_into_an_existing_dir_and_a_tree(tmp_path: Path) -> None:
    root = tmp_path / "guest"
    (root / "etc/app").mkdir(parents=True)
    tree = tmp_path / "conf"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub/a.conf").write_text("a")
    node = FakeNode("n", file_guest(root, dirs=("/etc/app",)), FakeClock(), guest_root=root)
    node.copy_from_host(tree, "/etc/app")  # cp -r into an existing directory: /etc/app/conf
    assert (root / "etc/app/conf/sub/a.conf").read_text() == "a"
    with pytest.raises(HarnessError, match="copy_from_host: no such host file or directory"):
        node.copy_from_host(tmp_path / "missing", "/x")


def test_copy_from_host_via_shell_is_the_same_transfer_and_keeps_the_mode(tmp_path: Path) -> None:
    """The driver's variant pipes base64 into the file (the mode is lost); ours is SFTP."""
    root = tmp_path / "guest"
    root.mkdir()
    script = tmp_path / "run.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o755)
    node = FakeNode("n", file_guest(root), FakeClock(), guest_root=root)
    node.copy_from_host_via_shell(script, "/opt/bin/run.sh")
    copied = root / "opt/bin/run.sh"
    assert copied.read_text() == script.read_text() and stat.S_IMODE(copied.stat().st_mode) == 0o755


def test_copy_from_machine_copies_a_tree_under_out_dir(tmp_path: Path) -> None:
    root = tmp_path / "guest"
    (root / "var/log/app/sub").mkdir(parents=True)
    (root / "var/log/app/a.log").write_text("a")
    (root / "var/log/app/sub/b.log").write_text("b")
    (root / "etc").mkdir()
    (root / "etc/hostname").write_text("n\n")
    out = tmp_path / "out"
    node = FakeNode("n", file_guest(root), FakeClock(), guest_root=root, out_dir=out)
    hooks: list[int] = []
    node.before_command.append(lambda: hooks.append(1))
    assert node.copy_from_machine("/var/log/app", "logs") == out / "logs/app"
    assert (out / "logs/app/sub/b.log").read_text() == "b" and (out / "logs/app/a.log").read_text() == "a"
    assert node.copy_from_vm(source="/etc/hostname") == out / "hostname"  # the old name, same place
    assert (out / "hostname").read_text() == "n\n"
    assert hooks == [1, 1], "polling conditions are checked before each copy"


def show(state: str, sub: str = "dead", jobs: str = "") -> str:
    return f"ActiveState={state}\nSubState={sub}\nLoadState=loaded\n--jobs--\n{jobs}"


def unit_guest(states: list[str], jobs: str = ""):  # type: ignore[no-untyped-def]
    seq = iter(states)
    last = [states[0]]

    def guest(command: str, _timeout: float) -> tuple[int, str, float]:
        if "list-jobs" in command:
            last[0] = next(seq, last[0])
            return 0, show(last[0], jobs=jobs), 0.2
        if "status" in command:
            return 0, "● x.service - status text\n", 0.1
        if "journalctl" in command:
            return 0, "journal line\n", 0.1
        return 0, "", 0.0

    return guest


def probes(node: FakeNode) -> int:
    return sum("list-jobs" in c for c in node.commands)


def diagnostics(node: FakeNode) -> list[str]:
    return [c for c in node.commands if "status" in c or "journalctl" in c]


def test_wait_for_unit_rides_out_brief_inactive() -> None:
    clock = FakeClock()
    node = FakeNode("n", unit_guest(["inactive", "inactive", "activating", "active"]), clock)
    begin = clock.now
    node.wait_for_unit("x.service", timeout=60)
    assert probes(node) == 4  # returned at the first "active", not before and not after
    assert diagnostics(node) == []  # no failure path taken
    assert clock.now - begin < INACTIVE_GRACE  # the brief inactive never reached the grace


def test_wait_for_unit_inactive_without_jobs_fails_after_grace() -> None:
    clock = FakeClock()
    node = FakeNode("n", unit_guest(["inactive"]), clock)
    begin = clock.now
    with pytest.raises(CheckFailed) as info:
        node.wait_for_unit("x.service", timeout=600)
    assert INACTIVE_GRACE <= clock.now - begin < INACTIVE_GRACE + 6
    text = str(info.value)
    assert "unit x.service on n is inactive and there are no pending jobs" in text
    assert "status text" in text and "journal line" in text


def test_wait_for_unit_inactive_with_pending_job_keeps_waiting() -> None:
    clock = FakeClock()
    states = ["inactive"] * 20 + ["active"]
    node = FakeNode("n", unit_guest(states, jobs="12 x.service start waiting"), clock)
    begin = clock.now
    node.wait_for_unit("x.service", timeout=600)
    assert probes(node) == 21  # every inactive look, then the active one
    assert clock.now - begin > INACTIVE_GRACE  # it waited past the grace: the job kept it going
    assert diagnostics(node) == []


def test_wait_for_unit_fails_at_once_on_failed() -> None:
    clock = FakeClock()
    node = FakeNode("n", unit_guest(["activating", "failed"]), clock)
    begin = clock.now
    with pytest.raises(CheckFailed, match="unit x.service reached state 'failed' on n"):
        node.wait_for_unit("x.service", timeout=600)
    assert clock.now - begin < 2


def test_wait_for_unit_timeout_carries_status_and_journal() -> None:
    clock = FakeClock()
    node = FakeNode("n", unit_guest(["activating"]), clock)
    with pytest.raises(WaitExpired) as info:
        node.wait_for_unit("x.service", timeout=10)
    text = str(info.value)
    assert "timed out waiting for unit x.service on n" in text
    assert "last state: ActiveState=activating" in text
    assert "systemctl status x.service" in text and "journal line" in text


def test_unit_queries_parse_systemctl_show() -> None:
    def guest(command: str, _t: float) -> tuple[int, str, float]:
        if "ExecMainStatus" in command:
            return 0, "ExecMainStatus=2\nResult=exit-code\n", 0.0
        if "TimestampMonotonic" in command:
            return 0, "ActiveEnterTimestampMonotonic=123\nInactiveExitTimestampMonotonic=\n", 0.0
        if "-o json" in command:
            return 0, '{"MESSAGE": "a"}\n\n{"MESSAGE": "b=c"}\n', 0.0
        if "--property=ActiveState" in command:
            return 0, "ActiveState=active\n", 0.0
        return 0, "Id=x.service\nDescription=a=b\n", 0.0

    node = FakeNode("n", guest, FakeClock())
    assert node.unit_exit_status("x") == (2, "exit-code")
    stamps = node.unit_timestamps("x")
    assert stamps["ActiveEnterTimestampMonotonic"] == 123
    assert stamps["InactiveExitTimestampMonotonic"] == 0
    assert [r["MESSAGE"] for r in node.journal_json("x")] == ["a", "b=c"]
    assert node.get_unit_info("x")["Description"] == "a=b"
    assert node.get_unit_property("x", "ActiveState") == "active"
    node.require_unit_state("x", "active")
    with pytest.raises(CheckFailed, match="is in state 'active', expected 'inactive'"):
        node.require_unit_state("x", "inactive")


def test_user_systemctl_runs_through_su() -> None:
    node = FakeNode("n", lambda _c, _t: (0, "", 0.0), FakeClock())
    node.systemctl("start foo", user="alice")
    assert node.commands[-1].startswith("su -l alice --shell /bin/sh -c ")
    assert "systemctl --user start foo" in node.commands[-1]


def test_start_and_stop_job_are_systemctl_start_and_stop() -> None:
    node = FakeNode("n", lambda _c, _t: (3, "out\n", 0.0), FakeClock())
    assert node.start_job("x.service") == (3, "out\n")
    assert node.stop_job("y.service", user="alice") == (3, "out\n")
    assert node.commands[0] == "systemctl start x.service"
    assert node.commands[1].startswith("su -l alice ") and "systemctl --user stop y.service" in node.commands[1]


def test_wait_for_port_and_file_commands() -> None:
    clock = FakeClock()
    node = FakeNode("n", lambda _c, _t: (0, "", 0.0), clock)
    node.wait_for_open_port(2379)
    node.wait_for_file("/var/lib/x marker")
    node.wait_for_open_unix_socket("/run/x.sock")
    assert "/dev/tcp/localhost/2379" in node.commands[0]
    assert node.commands[1] == "test -e '/var/lib/x marker'"
    assert "AF_UNIX" in node.commands[2]
    node2 = FakeNode("n", lambda _c, _t: (0, "", 0.0), clock)
    with pytest.raises(WaitExpired, match="closed port localhost:22"):
        node2.wait_for_closed_port(22, timeout=3)


def active_state_guest(states: list[str]):  # type: ignore[no-untyped-def]
    """Answers `systemctl show` with the next ActiveState of `states` (the last one repeats)."""
    seq = iter(states)
    last = [states[0]]

    def guest(command: str, _timeout: float) -> tuple[int, str, float]:
        if "show --property=ActiveState,SubState" in command:
            last[0] = next(seq, last[0])
            return 0, f"ActiveState={last[0]}\nSubState=x\n", 0.2
        return 0, "", 0.0

    return guest


def test_wait_for_unit_active_state_waits_through_other_states() -> None:
    node = FakeNode("n", active_state_guest(["inactive", "activating", "active", "deactivating", "failed"]),
                    FakeClock())  # fmt: skip
    node.wait_for_unit_active_state("x.service", "activating", timeout=10)
    node.wait_for_unit_active_state("x.service", "failed", timeout=10)  # through active, deactivating
    looks = [c for c in node.commands if "ActiveState" in c]
    assert len(looks) == 5 and all("'x.service'" in c or "x.service" in c for c in looks)


def test_wait_for_unit_active_state_rejects_an_unknown_state() -> None:
    node = FakeNode("n", active_state_guest(["active"]), FakeClock())
    with pytest.raises(UsageError, match="systemd has no ActiveState 'running'"):
        node.wait_for_unit_active_state("x.service", "running")
    assert node.commands == []  # refused before any poll


def test_wait_for_unit_active_state_times_out_with_the_last_state() -> None:
    clock = FakeClock()
    node = FakeNode("n", active_state_guest(["activating"]), clock)
    begin = clock.now
    with pytest.raises(WaitExpired) as info:
        node.wait_for_unit_active_state("x.service", "active", timeout=10)
    assert "ActiveState=activating" in str(info.value)
    assert clock.now - begin <= 10 + 1.0  # within its budget plus one poll
