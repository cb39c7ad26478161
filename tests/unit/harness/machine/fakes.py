"""Fakes shared by the harness unit tests: a clock that only moves when told, and a node
whose guest is a Python function (no processes, no real time)."""

from __future__ import annotations

from collections.abc import Callable

from harness.errors import CommandTimeout
from harness.machine.ssh import CommandResult
from harness.machine.units import UnitVerbs


class FakeClock:
    """Monotonic fake time; `sleep` advances it and records each nap."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.naps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, secs: float) -> None:
        self.naps.append(secs)
        self.now += secs


Guest = Callable[[str, float], tuple[int, str, float]]
"""(command, timeout) -> (rc, stdout, seconds the command takes)."""


class FakeNode(UnitVerbs):
    """A node whose commands are answered by `guest`; time passes on `clock` only."""

    def __init__(self, name: str, guest: Guest, clock: FakeClock) -> None:
        super().__init__(name, clock=clock, sleep=clock.sleep)
        self.guest = guest
        self.clock = clock
        self.commands: list[str] = []
        self.started = 0
        self.shutdowns = 0
        self.booted = False

    def _ensure_started(self) -> None:
        if not self.booted:
            self.start()

    def start(self, allow_reboot: bool = False) -> None:
        self.started += 1
        self.booted = True

    def wait_for_shutdown(self) -> None:
        self.shutdowns += 1
        self.booted = False

    def _run(self, command: str, timeout: float) -> CommandResult:
        inner = command.removeprefix("set -euo pipefail; ")
        self.commands.append(inner)
        rc, out, takes = self.guest(inner, timeout)
        if takes > timeout:
            self.clock.now += timeout
            raise CommandTimeout(f"{inner!r} still running after {timeout:.1f} s", stdout=out)
        self.clock.now += takes
        return CommandResult(rc, out, "", takes)
