"""Arming and firing the failpoints listed in `automation.spec.failpoints`. Inert unless armed."""

from __future__ import annotations

import os
import signal
import stat
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from automation import regularfile
from automation.errors import UsageError
from automation.spec.failpoints import ACTIONS, DEFAULT_FIRED_FILE, FAILPOINTS

MAX_SLEEP_S = 3600.0
MAX_FIRED_BYTES = 64 * 1024  # a name per line, a handful of names


@dataclass(frozen=True)
class Failpoints:
    armed: Mapping[str, str] = field(default_factory=dict)
    fired_file: Path = Path(DEFAULT_FIRED_FILE)
    on_fire: Callable[[str, str], None] | None = None  # logging hook, called before acting

    @classmethod
    def from_environment(cls, env: Mapping[str, str], on_fire: Callable[[str, str], None] | None = None) -> Failpoints:
        return cls(
            armed=parse(env.get("FBA_FAILPOINTS", "")),
            fired_file=Path(env.get("FBA_FAILPOINTS_FIRED", DEFAULT_FIRED_FILE)),
            on_fire=on_fire,
        )

    def hit(self, name: str) -> None:
        if name not in FAILPOINTS:
            raise KeyError(f"unknown failpoint {name!r}")  # a bug in fba, not user input
        action = self.armed.get(name)
        if action is None or not self._record(name):
            return
        if self.on_fire:
            self.on_fire(name, action)
        _act(action)

    def _record(self, name: str) -> bool:
        """True when `name` had not fired this boot and is now recorded as fired. A record
        that cannot be read or written (a FIFO or a directory in its place, too large,
        unreadable) fires nothing: never blocking on it, nor firing without a record."""
        try:
            try:
                fired = set(regularfile.read(self.fired_file, MAX_FIRED_BYTES).decode("utf-8", "replace").split())
            except FileNotFoundError:
                fired = set()
            if name in fired:
                return False
            self.fired_file.parent.mkdir(parents=True, exist_ok=True)
            # O_NONBLOCK: opening a FIFO for writing would wait for a reader.
            fd = os.open(
                self.fired_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK | os.O_CLOEXEC, 0o600
            )
            try:
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    return False
                os.write(fd, (name + "\n").encode("utf-8"))
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError:
            return False
        return True


def parse(text: str) -> dict[str, str]:
    """`name=action,name=action` -> {name: action}; unknown names or actions are UsageErrors."""
    armed: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, action = item.partition("=")
        action = action or "crash"
        if name not in FAILPOINTS:
            raise UsageError(f"FBA_FAILPOINTS: unknown failpoint {name!r}; known: {', '.join(FAILPOINTS)}")
        kind, _, arg = action.partition(":")
        if kind not in ACTIONS or (kind in ("exit", "sleep") and not _number(arg)):
            raise UsageError(f"FBA_FAILPOINTS: bad action {action!r} for {name}; use crash, panic, exit:N or sleep:S")
        armed[name] = action
    return armed


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _act(action: str) -> None:
    kind, _, arg = action.partition(":")
    if kind == "sleep":
        time.sleep(min(float(arg), MAX_SLEEP_S))
    elif kind == "exit":
        os._exit(int(float(arg)))
    elif kind == "panic":
        try:
            Path("/proc/sysrq-trigger").write_text("c", encoding="ascii")
        except OSError:
            pass
        os.kill(os.getpid(), signal.SIGKILL)
    else:
        os.kill(os.getpid(), signal.SIGKILL)
