"""Arming and firing the failpoints listed in `automation.spec.failpoints`. Inert unless armed."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from automation.errors import UsageError
from automation.spec.failpoints import ACTIONS, DEFAULT_FIRED_FILE, FAILPOINTS

MAX_SLEEP_S = 3600.0


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
        try:
            fired = set(self.fired_file.read_text(encoding="utf-8").split()) if self.fired_file.exists() else set()
            if name in fired:
                return False
            self.fired_file.parent.mkdir(parents=True, exist_ok=True)
            with self.fired_file.open("a", encoding="utf-8") as handle:
                handle.write(name + "\n")
                handle.flush()
                os.fsync(handle.fileno())
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
