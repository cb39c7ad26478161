"""Guest-command verbs of `Node` (NixOS driver names and signatures), over one primitive.

`CommandVerbs` needs only `_run(command, timeout) -> CommandResult` and `_ensure_started()`
from its subclass; unit tests implement those with a fake and a fake clock, so every
timing promise here is checked without a VM.

Timeouts: `Duration` (`int | float | timedelta`); `None` means the global budget
(`harness.waits.GLOBAL_BUDGET`), capped by the run's deadline, never "forever".
"""

from __future__ import annotations

import shlex
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from harness.errors import CommandFailed, CommandTimeout, GuestUnreachable, HarnessError, WaitTimeout
from harness.log import EventKind, NodeLog, RunLog
from harness.machine.ssh import CommandResult, detached
from harness.waits import (
    Clock,
    Duration,
    Observation,
    Sleep,
    seconds,
    tail,
    wait_until,
)  # fmt: skip

__all__ = ["CommandVerbs", "NOT_WAITED", "SLEEP_SLACK", "shell_wrap"]

NOT_WAITED = -2
"""`execute(check_output=False)`'s exit code, as in the driver: the command was not waited for."""
SLEEP_SLACK = 60.0
"""Seconds a guest `sleep N` may take beyond N (a loaded TCG guest) before it is a timeout."""


def shell_wrap(command: str) -> str:
    """The driver's strict mode, so scripts written for it behave the same here."""
    return f"set -euo pipefail; {command}"


class CommandVerbs(ABC):
    """Verbs that run commands in the guest. Subclasses provide transport and lifecycle."""

    name: str

    def __init__(
        self,
        name: str,
        *,
        log: NodeLog | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
        deadline_cap: float | None = None,
        out_dir: Path | None = None,
    ) -> None:
        self.name = name
        self.out_dir = out_dir if out_dir is not None else Path.cwd() / "out"
        """Where `copy_from_machine` puts files (the driver's `out_dir`; `Driver` sets it)."""
        self._log = log if log is not None else RunLog(quiet=True).for_node(name)
        self._clock = clock
        self._sleep = sleep
        self.deadline_cap = deadline_cap
        """Absolute clock value no wait may pass: the per-test or per-run deadline."""
        self.before_command: list[Callable[[], None]] = []
        """Hooks run before each command (the driver's polling conditions)."""

    # -- what subclasses provide -------------------------------------------------------
    @abstractmethod
    def _run(self, command: str, timeout: float) -> CommandResult:
        """Run one shell command in the guest within `timeout` seconds."""

    @abstractmethod
    def _ensure_started(self) -> None:
        """Start the node if it is not running (a command on a stopped node starts it)."""

    def _upload(self, local: Path, remote: str) -> None:
        """Copy a host file or directory tree to guest path `remote`, keeping modes."""
        raise NotImplementedError(f"{type(self).__name__}: no file transport")

    def _download(self, remote: str, local: Path) -> None:
        """Copy a guest file or directory tree to host path `local`, keeping modes."""
        raise NotImplementedError(f"{type(self).__name__}: no file transport")

    def run_callbacks(self) -> None:
        """Run the before-command hooks (the driver's polling conditions), as the driver does
        before every guest command, including each attempt of a wait.

        Raises:
            CheckFailed: an armed polling condition failed ("Polling condition failed: ...").

        Parity:
            Driver: runs the machine's callbacks, the driver's polling-condition check; `execute` and
                `send_monitor_command` call it first
            Ours: runs the `before_command` hooks (the polling conditions, added by `Driver`): before every
                command, every attempt of every wait, `send_monitor_command` and `copy_from_machine`
            Tests: test_polling_hooks_run_before_every_attempt_of_a_wait,
                test_monitor_and_qmp_event_answer_like_the_driver,
                test_copy_from_machine_copies_a_tree_under_out_dir
        """
        for hook in self.before_command:
            hook()

    # -- logging ------------------------------------------------------------------------
    def log(self, msg: str) -> None:
        """Log `msg` with this node's prefix.

        Parity:
            Driver: a log line tagged with the machine's name
            Ours: the same, on the run log (console and `events.jsonl`)
            Tests: test_nested_steps_are_timed_and_recorded
        """
        self._log.log(msg)

    @contextmanager
    def nested(self, msg: str, attrs: Mapping[str, str] | None = None) -> Iterator[None]:
        """A timed, nested log step: `with node.nested("checking x"): ...`.

        Parity:
            Driver: a nested log block with attributes
            Ours: a timed nested step (`step_start`/`step_end` with duration and ok in `events.jsonl`)
            Tests: test_nested_steps_are_timed_and_recorded
        """
        with self._log.nested(msg, attrs):
            yield

    def _budget(self, timeout: Duration | None) -> float:
        budget = seconds(timeout)
        if self.deadline_cap is not None:
            budget = max(0.0, min(budget, self.deadline_cap - self._clock()))
        return budget

    def _wait(self, predicate: Callable[[float], Observation], what: str,
              timeout: Duration | None) -> Observation:  # fmt: skip
        def record(n: int, obs: Observation) -> None:
            self._log.event(EventKind.ATTEMPT, what, attempt=n, ok=obs.ok, rc=obs.rc)

        return wait_until(
            predicate, what=f"{what} on {self.name}", timeout=timeout, clock=self._clock,
            sleep=self._sleep, deadline_cap=self.deadline_cap, on_attempt=record,
        )  # fmt: skip

    # -- commands -----------------------------------------------------------------------
    def execute(
        self, command: str, check_return: bool = True, check_output: bool = True,
        timeout: Duration | None = 900,
    ) -> tuple[int, str]:  # fmt: skip
        """Run `command` in the guest; `(exit code, stdout)`. stderr goes to the log only.

        As in the driver, `check_return=False` returns -1 instead of the exit code, and
        `check_output=False` does not wait for the command at all: it is started detached
        (its output goes to the guest's `/run/fba-command-stderr.log`) and `(-2, "")` comes
        back at once (for commands that power the guest off or switch root). A command that
        backgrounds a child (`server >&2 &`) returns once the shell exits; the child keeps
        running and may keep writing to stderr (see `harness.machine.ssh.relay_stderr`).
        A stopped node is started. Polling conditions are checked first.

        ```python
        rc, out = node01.execute("cat /etc/hostname")
        ```

        Raises:
            CommandTimeout: still running after `timeout` (partial output attached).
            InfrastructureError: the node cannot be reached (QEMU gone, SSH down).

        Parity:
            Driver: `set -euo pipefail;` under `timeout N bash -c`; reads output until stdout closes, and a
                `cmd &` child's `>&2` goes to the backdoor shell's stderr, which stays open; returns stdout
                only; `check_return=False` gives -1 for the exit code; `check_output=False` sends the command,
                does not wait, returns `(-2, "")`; a stopped machine is started; polling conditions first
            Ours: `set -euo pipefail;` over SSH; returns when the shell exits (+0.2 s drain) even if a
                background child holds stdout; stderr goes through `tee -p` into the channel and
                `/run/fba-command-stderr.log`, so a `>&2 &` child keeps running and writing after the channel
                closes; stdout only (stderr to the log and into failure texts); `check_return=False` gives -1;
                `check_output=False` starts it detached (`setsid -f`, output to the guest log) and returns
                `(-2, "")`; a stopped node is started; polling conditions first
            Tests: test_execute_driver_flags, test_output_verbs_return_stdout_only,
                test_background_child_survives_the_channel_closing_only_with_the_relay,
                test_relay_keeps_foreground_stdout_and_stderr_apart, driver_parity, nixos_driver_low_level,
                nixos_driver_succeed_stdout
        """
        self._ensure_started()
        self.run_callbacks()
        if not check_output:
            self._run(detached(shell_wrap(command)), self._budget(timeout))
            return (NOT_WAITED, "")
        result = self._run(shell_wrap(command), self._budget(timeout))
        self._log_stderr(result)
        return (result.rc if check_return else -1, result.stdout)

    def _log_stderr(self, result: CommandResult) -> None:
        if result.stderr.strip():
            self.log(f"stderr: {tail(result.stderr)}")

    def _observe(self, command: str, left: float, want_success: bool,
                 stdout: list[str] | None = None) -> Observation:  # fmt: skip
        """One attempt of a wait: polling conditions, then the command within `left` s.

        Appends the command's stdout to `stdout` (if given); the Observation's output is
        stdout + stderr, for the error message.
        """
        self._ensure_started()
        self.run_callbacks()  # as the driver's execute(): each attempt, raising at once
        try:
            result = self._run(shell_wrap(command), left)
        except CommandTimeout as err:
            return Observation(ok=False, rc=None, output=err.stdout + err.stderr,
                               detail=f"still running after {left:.1f} s")  # fmt: skip
        except (GuestUnreachable, WaitTimeout) as err:
            # Booting, rebooting or between SSH sessions: keep trying within the budget.
            return Observation(ok=False, rc=None, output=str(err), detail="guest unreachable")
        if stdout is not None:
            stdout.append(result.stdout)
        return Observation(ok=(result.rc == 0) == want_success, rc=result.rc,
                           output=result.output)  # fmt: skip

    def succeed(self, *commands: str, timeout: Duration | None = None) -> str:
        """Run each command; all must exit 0. Returns their stdout, concatenated.

        Raises:
            CommandFailed: a command exited non-zero (message quotes it, rc, last output).

        Parity:
            Driver: each command through `execute`; a non-zero exit raises "command `X` failed (exit code N)"
                (the output is logged); returns the stdouts concatenated; `timeout=None` is no bound
            Ours: the same, stdout only (stderr to the log and into failure texts); `CommandFailed` quotes the
                command, rc and last output; `timeout=None` is the global budget, capped by the run deadline
            Tests: test_succeed_and_fail_messages_quote_command_and_rc, test_succeed_timeout_none_is_bounded,
                test_output_verbs_return_stdout_only, test_stderr_still_shows_in_failure_text, driver_parity,
                nixos_driver_low_level, nixos_driver_succeed_stdout
        """
        output = ""
        for command in commands:
            with self.nested(f"must succeed: {command}"):
                result = self._checked_run(command, timeout)
                if result.rc != 0:
                    raise CommandFailed(
                        f"command `{command}` failed on {self.name} (exit code {result.rc}); "
                        f"last output:\n{tail(result.output)}"
                    )
                output += result.stdout
        return output

    def fail(self, *commands: str, timeout: Duration | None = None) -> str:
        """Run each command; all must exit non-zero. Returns their stdout, concatenated.

        Raises:
            CommandFailed: a command unexpectedly exited 0.

        Parity:
            Driver: like `succeed`, raising "command `X` unexpectedly succeeded" on exit 0
            Ours: the same, stdout only; `CommandFailed` quotes the output
            Tests: test_succeed_and_fail_messages_quote_command_and_rc, test_output_verbs_return_stdout_only,
                nixos_driver_low_level
        """
        output = ""
        for command in commands:
            with self.nested(f"must fail: {command}"):
                result = self._checked_run(command, timeout)
                if result.rc == 0:
                    raise CommandFailed(
                        f"command `{command}` unexpectedly succeeded on {self.name}; output:\n{tail(result.output)}"
                    )
                output += result.stdout
        return output

    def _checked_run(self, command: str, timeout: Duration | None) -> CommandResult:
        self._ensure_started()
        self.run_callbacks()
        result = self._run(shell_wrap(command), self._budget(timeout))
        self._log_stderr(result)
        return result

    def wait_until_succeeds(self, command: str, timeout: Duration | None = 900) -> str:
        """Retry `command` until it exits 0; each attempt gets only the time left.

        Ends within `timeout` plus one poll interval. Returns the successful attempt's
        stdout only (stderr goes to the log), so `json.loads(...)` works on it. Polling
        conditions are checked before every attempt.

        ```python
        node01.wait_until_succeeds("curl -sf http://localhost:2379/health", timeout=60)
        ```

        Raises:
            WaitExpired: names the command, elapsed/budget, attempts, last rc and output.

        Parity:
            Driver: `execute` once a second (`retry`) until exit 0; each attempt may itself take up to
                `timeout`; returns the last attempt's stdout
            Ours: each attempt gets only the time left, so it ends within `timeout` plus one poll; returns the
                passing attempt's stdout only; polling conditions before every attempt; `WaitExpired` names
                the command, elapsed/budget, attempts, last rc and output
            Tests: test_wait_until_succeeds_sleep_999_returns_within_6_5_s_of_fake_time,
                test_wait_until_succeeds_returns_output_once_it_passes, test_output_verbs_return_stdout_only,
                test_polling_hooks_run_before_every_attempt_of_a_wait,
                test_wait_until_succeeds_sleep_999_is_bounded_in_real_time, driver_parity, nixos_driver_attempt_timeout
        """
        stdout: list[str] = []
        with self.nested(f"waiting for success: {command}"):
            self._wait(lambda left: self._observe(command, left, True, stdout),
                       f"`{command}` to succeed", timeout)  # fmt: skip
        return stdout[-1]

    def wait_until_fails(self, command: str, timeout: Duration | None = 900) -> str:
        """Retry `command` until it exits non-zero (same bounds as `wait_until_succeeds`);
        returns that attempt's stdout.

        Raises:
            WaitExpired: the command kept succeeding.

        Parity:
            Driver: like `wait_until_succeeds`, until a non-zero exit
            Ours: like `wait_until_succeeds` (the same bounds), until a non-zero exit; returns that attempt's
                stdout only
            Tests: test_wait_until_fails_honours_its_timeout, test_output_verbs_return_stdout_only, partition,
                nixos_driver_low_level, failover
        """
        stdout: list[str] = []
        with self.nested(f"waiting for failure: {command}"):
            self._wait(lambda left: self._observe(command, left, False, stdout),
                       f"`{command}` to fail", timeout)  # fmt: skip
        return stdout[-1]

    def wait_for_file(self, filename: str, timeout: Duration | None = 900) -> None:
        """Wait until `filename` exists in the guest.

        Parity:
            Driver: `test -e FILE` (unquoted) once a second
            Ours: `test -e` with the name shell-quoted; each attempt within the time left; polling conditions
                before each
            Tests: test_wait_for_port_and_file_commands, test_failing_polling_condition_ends_a_wait_at_once,
                services_port_file, nixos_driver_files
        """
        with self.nested(f"waiting for file {filename}"):
            self._wait(lambda left: self._observe(f"test -e {shlex.quote(filename)}", left, True),
                       f"file {filename}", timeout)  # fmt: skip

    def _port_probe(self, port: int, addr: str) -> str:
        target = shlex.quote(f"/dev/tcp/{addr}/{port}")
        return f"timeout 3 bash -c 'exec 3<>'{target}"

    def wait_for_open_port(self, port: int, addr: str = "localhost", timeout: Duration | None = 900) -> None:
        """Wait until TCP `addr:port` accepts connections in the guest.

        Parity:
            Driver: `nc -z ADDR PORT` once a second
            Ours: a bash `/dev/tcp/ADDR/PORT` probe under `timeout 3`
            Tests: test_wait_for_port_and_file_commands, services_port_file, nixos_driver_networking,
                nixos_driver_attempt_timeout
        """
        with self.nested(f"waiting for TCP port {port} on {addr}"):
            self._wait(lambda left: self._observe(self._port_probe(port, addr), left, True),
                       f"open port {addr}:{port}", timeout)  # fmt: skip

    def wait_for_closed_port(self, port: int, addr: str = "localhost", timeout: Duration | None = 900) -> None:
        """Wait until TCP `addr:port` refuses connections in the guest.

        Parity:
            Driver: until `nc -z ADDR PORT` fails
            Ours: until the bash `/dev/tcp` probe fails
            Tests: test_wait_for_port_and_file_commands, nixos_driver_networking
        """
        with self.nested(f"waiting for TCP port {port} on {addr} to close"):
            self._wait(lambda left: self._observe(self._port_probe(port, addr), left, False),
                       f"closed port {addr}:{port}", timeout)  # fmt: skip

    def wait_for_open_unix_socket(self, addr: str, is_datagram: bool = False, timeout: Duration | None = 900) -> None:
        """Wait until the unix socket `addr` accepts a connection in the guest.

        Parity:
            Driver: `nc -z -U ADDR` (`-uU` for a datagram socket) once a second
            Ours: a python3 `socket.connect` probe (`SOCK_DGRAM` for a datagram socket)
            Tests: test_wait_for_port_and_file_commands
        """
        kind = "SOCK_DGRAM" if is_datagram else "SOCK_STREAM"
        code = f"import socket,sys; socket.socket(socket.AF_UNIX, socket.{kind}).connect(sys.argv[1])"
        command = f"python3 -c {shlex.quote(code)} {shlex.quote(addr)}"
        with self.nested(f"waiting for unix socket {addr}"):
            self._wait(lambda left: self._observe(command, left, True),
                       f"unix socket {addr}", timeout)  # fmt: skip

    def read_file(self, path: str, timeout: Duration | None = 60) -> str:
        """The content of a guest file (text).

        Raises:
            CommandFailed: it cannot be read (message includes `cat`'s error).
        """
        return self.succeed(f"cat -- {shlex.quote(path)}", timeout=timeout)

    def sleep(self, secs: Duration) -> None:
        """Sleep `secs` in guest time, as the driver does (`succeed("sleep N")`): the test
        waits that long; a frozen or stopped guest is a `CommandTimeout` after
        `secs + SLEEP_SLACK`, and polling conditions are checked first.

        Parity:
            Driver: `succeed(f"sleep {secs}")`: guest time
            Ours: the same, bounded by `secs + SLEEP_SLACK` (60 s); polling conditions first
            Tests: test_sleep_sleeps_in_guest_time, nixos_driver_low_level
        """
        n = seconds(secs)
        self.succeed(f"sleep {n:g}", timeout=n + SLEEP_SLACK)

    def copy_from_host(self, source: str | Path, target: str) -> None:
        """Copy a host file or directory (recursively) into the guest at `target`.

        As the driver (`mkdir -p` parent, then `cp -r`): the parent directories of `target`
        are created, the permission bits are kept (a script stays executable), and an
        existing directory `target` receives `source` inside it.

        Raises:
            HarnessError: `source` does not exist on the host.
            CommandFailed: the guest could not create the parent directory.
            InfrastructureError / WaitTimeout: the transfer failed or stalled.

        Parity:
            Driver: `mkdir -p` parent, `cp -r` from the shared directory (mode kept, root:root)
            Ours: `mkdir -p` parent, SFTP tree copy with `chmod` to the host mode, bounded (a stalled
                transfer is a `WaitTimeout`); an existing directory `target` receives `source` inside it,
                as `cp -r`
            Tests: test_copy_from_host_creates_parents_and_keeps_the_mode,
                test_copy_from_host_into_an_existing_dir_and_a_tree, driver_parity, nixos_driver_files
        """
        src = Path(source)
        if not src.exists():
            raise HarnessError(f"copy_from_host: no such host file or directory: {src}")
        with self.nested(f"copying {src} to {target}"):
            q = shlex.quote(target)
            into_dir = self.execute(f"test -d {q}")[0] == 0
            dest = str(PurePosixPath(target) / src.name) if into_dir else target
            self.succeed(f"mkdir -p -- {shlex.quote(str(PurePosixPath(dest).parent))}")
            self._upload(src, dest)

    def copy_from_host_via_shell(self, source: str | Path, target: str) -> None:
        """The driver's shell-pipe variant; here the same transfer as `copy_from_host`.

        Parity:
            Driver: one file, base64 over the shell into `target` (`mkdir -p` parent); the mode is not kept
            Ours: the same transfer as `copy_from_host` (SFTP: trees, modes kept)
            Tests: test_copy_from_host_via_shell_is_the_same_transfer_and_keeps_the_mode, nixos_driver_files
        """
        self.copy_from_host(source, target)

    def copy_from_machine(self, source: str, target_dir: str | Path = "") -> Path:
        """Copy a guest file or directory (recursively) to `out_dir / target_dir / name`.

        Where the driver puts it (`out_dir` is the driver's, `Driver(out_dir=...)`); returns
        that host path (the driver returns None). Modes are kept; an existing directory
        there is merged into (the driver's `copytree` would refuse).

        Raises:
            InfrastructureError: no such guest path, or the transfer failed.
            WaitTimeout: the transfer stalled.

        Parity:
            Driver: `cp -r` in the guest via the shared dir to `out_dir/target_dir/name`; dirs too; returns
                None
            Ours: SFTP tree copy to `out_dir/target_dir/name` (modes kept; an existing dir is merged into),
                bounded; returns that path; polling conditions first
            Tests: test_copy_from_machine_copies_a_tree_under_out_dir,
                test_sftp_trees_copy_recursively_and_keep_modes, driver_parity
        """
        self._ensure_started()
        self.run_callbacks()
        dest = self.out_dir / target_dir / PurePosixPath(source).name
        dest.parent.mkdir(parents=True, exist_ok=True)
        with self.nested(f"copying {source} from the VM to {dest}"):
            self._download(source, dest)
        return dest

    def copy_from_vm(self, source: str, target_dir: str | Path = "") -> Path:
        """The driver's older name of `copy_from_machine` (kept as an alias there too).

        Parity:
            Driver: deprecated alias of `copy_from_machine` (a warning)
            Ours: alias kept, without a warning; returns the path
            Tests: test_copy_from_machine_copies_a_tree_under_out_dir, test_copy_roundtrip, driver_parity,
                nixos_driver_files
        """
        return self.copy_from_machine(source, target_dir)
