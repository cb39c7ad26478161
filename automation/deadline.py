"""Wall-clock budgets with an injectable clock: what every wait in `fba` is bounded by.

Kept apart from the retry policies (automation.policy, which imports tenacity) so that a
command that only waits (`fba status --wait`) imports neither tenacity nor the config model.
For the same reason these are NamedTuples, not frozen dataclasses: `fba status` does not
import `dataclasses` (docs/CONTRIBUTING.md, "The start-up path").
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import NamedTuple


class Clock(NamedTuple):
    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    wall: Callable[[], float] = time.time  # only to read Retry-After's HTTP dates


SYSTEM_CLOCK = Clock()


class Deadline(NamedTuple):
    budget_s: float
    clock: Clock = SYSTEM_CLOCK
    started: float = -1.0

    @classmethod
    def start(cls, budget_s: float, clock: Clock = SYSTEM_CLOCK) -> Deadline:
        return cls(budget_s=budget_s, clock=clock, started=clock.monotonic())

    def elapsed(self) -> float:
        return self.clock.monotonic() - self.started

    def remaining(self) -> float:
        return max(0.0, self.budget_s - self.elapsed())

    def expired(self) -> bool:
        return self.remaining() <= 0.0

    def sleep(self, seconds: float) -> float:
        """Sleep at most what is left; returns the time actually slept."""
        nap = max(0.0, min(seconds, self.remaining()))
        if nap > 0:
            self.clock.sleep(nap)
        return nap

    def cap(self, timeout: float) -> float:
        """A whole-request timeout that does not outlive the deadline (at least 0.1 s: a request
        started at the deadline may overrun it by that much, the "one poll" of the promise)."""
        return max(0.1, min(timeout, self.remaining()))

    def sub(self, budget_s: float) -> Deadline:
        """A deadline for part of this one: ends at `budget_s` or at this deadline, the earlier."""
        return Deadline.start(min(budget_s, self.remaining()), self.clock)
