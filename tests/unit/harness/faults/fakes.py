"""Fakes for the faults wing: a node that records guest commands, a bridge whose nft loads are
recorded (a real `NetLedger` over a list), a clock that only moves when asked."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.network.ledger import NetLedger


@dataclass
class FakeClock:
    now: float = 100.0
    sleeps: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


@dataclass
class FakeQmp:
    calls: list[str]

    def stop(self) -> None:
        self.calls.append("qmp stop")

    def cont(self) -> None:
        self.calls.append("qmp cont")


class FakeNode:
    def __init__(self, name: str, answers: dict[str, str] | None = None) -> None:
        self.name = name
        self.booted = True
        self.calls: list[str] = []
        self.answers = answers or {}
        self.files: dict[str, str] = {}
        self.fail_on: Callable[[str], bool] = lambda _c: False

    @property
    def qmp(self) -> FakeQmp:
        return FakeQmp(self.calls)

    def succeed(self, *commands: str, timeout: float | None = None) -> str:
        command = " ".join(commands)
        self.calls.append(command)
        if self.fail_on(command):
            raise RuntimeError(f"command failed: {command}")
        for prefix, answer in self.answers.items():
            if prefix in command:
                return answer
        return ""

    def start(self, allow_reboot: bool = False) -> None:
        self.calls.append("start")
        self.booted = True

    def crash(self) -> None:
        self.calls.append("crash")
        self.booted = False

    def shutdown(self) -> None:
        self.calls.append("shutdown")
        self.booted = False

    def reboot(self) -> None:
        self.calls.append("reboot")


class FakeNet(NetLedger):
    """The real ledger; `scripts` are the nft transactions it loaded, in order."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self.scripts: list[str] = []
        super().__init__({n: f"tap{i}" for i, n in enumerate(names, 1)}, self.scripts.append)


@dataclass
class FakeSink:
    events: list[dict[str, Any]] = field(default_factory=list)

    def event(self, kind: str, msg: str, *, node: str | None = None, **fields: Any) -> None:
        self.events.append({"kind": kind, "msg": msg, "node": node, **fields})
