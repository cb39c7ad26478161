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
from pathlib import Path

from harness.errors import CommandFailed, CommandTimeout, GuestUnreachable, WaitTimeout
from harness.log import EventKind, NodeLog, RunLog
from harness.machine.ssh import CommandResult
from harness.waits import (
    Clock,
    Duration,
    Observation,
    Sleep,
    seconds,
    tail,
    wait_until,
)  # fmt: skip

__all__ = ["CommandVerbs", "shell_wrap"]


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
    ) -> None:
        self.name = name
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

    # -- logging ------------------------------------------------------------------------
    def log(self, msg: str) -> None:
        """Log `msg` with this node's prefix."""
        self._log.log(msg)

    @contextmanager
    def nested(self, msg: str, attrs: Mapping[str, str] | None = None) -> Iterator[None]:
        """A timed, nested log step: `with node.nested("checking x"): ...`."""
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
        """Run `command` in the guest; `(exit code, stdout)`.

        As in the driver, `check_return=False` returns -1 instead of the exit code and
        `check_output=False` returns "" instead of stdout. A stopped node is started.

        ```python
        rc, out = node01.execute("cat /etc/hostname")
        ```

        Raises:
            CommandTimeout: still running after `timeout` (partial output attached).
            InfrastructureError: the node cannot be reached (QEMU gone, SSH down).
        """
        self._ensure_started()
        for hook in self.before_command:
            hook()
        result = self._run(shell_wrap(command), self._budget(timeout))
        return (result.rc if check_return else -1, result.stdout if check_output else "")

    def _observe(self, command: str, left: float, want_success: bool) -> Observation:
        try:
            self._ensure_started()
            result = self._run(shell_wrap(command), left)
        except CommandTimeout as err:
            return Observation(ok=False, rc=None, output=err.stdout + err.stderr,
                               detail=f"still running after {left:.1f} s")  # fmt: skip
        except (GuestUnreachable, WaitTimeout) as err:
            # Booting, rebooting or between SSH sessions: keep trying within the budget.
            return Observation(ok=False, rc=None, output=str(err), detail="guest unreachable")
        return Observation(ok=(result.rc == 0) == want_success, rc=result.rc,
                           output=result.output)  # fmt: skip

    def succeed(self, *commands: str, timeout: Duration | None = None) -> str:
        """Run each command; all must exit 0. Returns their stdout, concatenated.

        Raises:
            CommandFailed: a command exited non-zero (message quotes it, rc, last output).
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
        for hook in self.before_command:
            hook()
        return self._run(shell_wrap(command), self._budget(timeout))

    def wait_until_succeeds(self, command: str, timeout: Duration | None = 900) -> str:
        """Retry `command` until it exits 0; each attempt gets only the time left.

        Ends within `timeout` plus one poll interval. Returns the successful stdout.

        ```python
        node01.wait_until_succeeds("curl -sf http://localhost:2379/health", timeout=60)
        ```

        Raises:
            WaitExpired: names the command, elapsed/budget, attempts, last rc and output.
        """
        with self.nested(f"waiting for success: {command}"):
            obs = self._wait(lambda left: self._observe(command, left, True),
                             f"`{command}` to succeed", timeout)  # fmt: skip
        return obs.output

    def wait_until_fails(self, command: str, timeout: Duration | None = 900) -> str:
        """Retry `command` until it exits non-zero (same bounds as `wait_until_succeeds`).

        Raises:
            WaitExpired: the command kept succeeding.
        """
        with self.nested(f"waiting for failure: {command}"):
            obs = self._wait(lambda left: self._observe(command, left, False),
                             f"`{command}` to fail", timeout)  # fmt: skip
        return obs.output

    def wait_for_file(self, filename: str, timeout: Duration | None = 900) -> None:
        """Wait until `filename` exists in the guest."""
        with self.nested(f"waiting for file {filename}"):
            self._wait(lambda left: self._observe(f"test -e {shlex.quote(filename)}", left, True),
                       f"file {filename}", timeout)  # fmt: skip

    def _port_probe(self, port: int, addr: str) -> str:
        target = shlex.quote(f"/dev/tcp/{addr}/{port}")
        return f"timeout 3 bash -c 'exec 3<>'{target}"

    def wait_for_open_port(self, port: int, addr: str = "localhost", timeout: Duration | None = 900) -> None:
        """Wait until TCP `addr:port` accepts connections in the guest."""
        with self.nested(f"waiting for TCP port {port} on {addr}"):
            self._wait(lambda left: self._observe(self._port_probe(port, addr), left, True),
                       f"open port {addr}:{port}", timeout)  # fmt: skip

    def wait_for_closed_port(self, port: int, addr: str = "localhost", timeout: Duration | None = 900) -> None:
        """Wait until TCP `addr:port` refuses connections in the guest."""
        with self.nested(f"waiting for TCP port {port} on {addr} to close"):
            self._wait(lambda left: self._observe(self._port_probe(port, addr), left, False),
                       f"closed port {addr}:{port}", timeout)  # fmt: skip

    def wait_for_open_unix_socket(self, addr: str, is_datagram: bool = False, timeout: Duration | None = 900) -> None:
        """Wait until the unix socket `addr` accepts a connection in the guest."""
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
        """Sleep on the host for `secs` (logged, so the timeline shows the pause)."""
        with self.nested(f"sleeping {seconds(secs):g} s"):
            self._sleep(seconds(secs))

    def copy_from_host(self, source: str | Path, target: str) -> None:
        """Copy a host file or directory into the guest at `target`."""
        raise NotImplementedError("copy_from_host needs a transport; use Node")

    def copy_from_vm(self, source: str, target_dir: str | Path = "") -> Path:
        """Copy a guest file or directory to the node's output dir / `target_dir`."""
        raise NotImplementedError("copy_from_vm needs a transport; use Node")
