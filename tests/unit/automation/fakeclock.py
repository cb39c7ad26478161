"""A clock that only moves when something sleeps: retry tests run without real time passing."""

from __future__ import annotations

from automation.policy import Clock

WALL_EPOCH = 1_800_000_000.0  # the fake wall clock's start (2027-01-15), for Retry-After dates


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def wall(self) -> float:
        return WALL_EPOCH + self.now

    def clock(self) -> Clock:
        return Clock(monotonic=self.monotonic, sleep=self.sleep, wall=self.wall)
