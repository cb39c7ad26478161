"""Fakes shared by the harness unit tests: a clock that only moves when told, and a node
whose guest is a Python function (no processes, no real time)."""

from __future__ import annotations

import shutil
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

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


class FakeQemu:
    """A QEMU `Popen` that runs until signalled or told to `exit` (no process); records signals."""

    pid = 4242

    def __init__(self) -> None:
        self.returncode: int | None = None
        self.signals: list[int] = []

    def exit(self, rc: int) -> None:
        self.returncode = rc

    def poll(self) -> int | None:
        return self.returncode

    def send_signal(self, sig: int) -> None:
        self.signals.append(sig)
        self.returncode = -sig

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            raise subprocess.TimeoutExpired("qemu", timeout or 0)
        return self.returncode


Guest = Callable[[str, float], tuple[int, str, float] | tuple[int, str, float, str]]
"""(command, timeout) -> (rc, stdout, seconds the command takes[, stderr])."""


class FakeNode(UnitVerbs):
    """A node whose commands are answered by `guest`; time passes on `clock` only."""

    def __init__(self, name: str, guest: Guest, clock: FakeClock, *, guest_root: Path | None = None,
                 out_dir: Path | None = None) -> None:  # fmt: skip
        super().__init__(name, clock=clock, sleep=clock.sleep, out_dir=out_dir)
        self.guest = guest
        self.guest_root = guest_root
        """Host directory standing for the guest's `/` in file transfers."""
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
        answer = self.guest(inner, timeout)
        rc, out, takes = answer[:3]
        err = answer[3] if len(answer) == 4 else ""
        if takes > timeout:
            self.clock.now += timeout
            raise CommandTimeout(f"{inner!r} still running after {timeout:.1f} s", stdout=out)
        self.clock.now += takes
        return CommandResult(rc, out, err, takes)

    def _in_guest(self, remote: str) -> Path:
        assert self.guest_root is not None, "pass guest_root= to use file transfers"
        return self.guest_root / remote.lstrip("/")

    def _upload(self, local: Path, remote: str) -> None:
        # copy2/copytree keep the mode, as the SFTP transfer does (sftp_put_tree).
        dest = self._in_guest(remote)
        if local.is_dir():
            shutil.copytree(local, dest, dirs_exist_ok=True)
        else:
            shutil.copy2(local, dest)

    def _download(self, remote: str, local: Path) -> None:
        src = self._in_guest(remote)
        if src.is_dir():
            shutil.copytree(src, local, dirs_exist_ok=True)
        else:
            shutil.copy2(src, local)
