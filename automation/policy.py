"""Time and retry policies, as named values.

Every wait in `fba` goes through a `Deadline` (wall-clock budget, injectable clock) and a
tenacity policy that always has a stop. Sleeps are capped by what is left of the deadline,
so a wait ends within its budget plus one request timeout, never "one more full interval".

The design polled every 5 s and retried joins every 10 s. We back off with jitter instead:
health polls from 0.1 s doubling to a 5 s cap (a service that comes up in 300 ms is seen in
~300 ms, not 5 s), joins from 1 s to 16 s (the design's "future enhancement 1"). The design's
fixed policy stays available: `join.retry_mode: "fixed"`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from tenacity import RetryCallState, stop_after_attempt, wait_exponential_jitter, wait_fixed
from tenacity.stop import stop_base
from tenacity.wait import wait_base

# Deadline and Clock live in automation.deadline (no tenacity, no pydantic: `fba status` needs
# only them); re-exported here for the steps that use both.
from automation.deadline import SYSTEM_CLOCK as SYSTEM_CLOCK
from automation.deadline import Clock as Clock
from automation.deadline import Deadline as Deadline

if TYPE_CHECKING:  # the config model costs ~0.1 s to import; `fba status` needs only Deadline
    from automation.spec.config import HealthConfig, JoinConfig


class stop_at_deadline(stop_base):
    """Stop once the deadline has passed (tenacity's stop_after_delay uses its own clock)."""

    def __init__(self, deadline: Deadline) -> None:
        self.deadline = deadline

    def __call__(self, retry_state: object) -> bool:
        return self.deadline.expired()


@dataclass(frozen=True)
class Backoff:
    """A wait schedule: attempt number (1-based) -> seconds to sleep before the next one."""

    wait: wait_base
    stop: stop_base
    describe: str

    def delay(self, attempt: int) -> float:
        return float(self.wait(cast(RetryCallState, _State(attempt))))

    def should_stop(self, attempt: int) -> bool:
        return bool(self.stop(cast(RetryCallState, _State(attempt))))


@dataclass
class _State:
    """The two fields of tenacity's RetryCallState that its wait/stop strategies read."""

    attempt_number: int
    seconds_since_start: float | None = None
    idle_for: float = 0.0
    outcome: object = None
    start_time: float = 0.0


def health_backoff(cfg: HealthConfig, deadline: Deadline) -> Backoff:
    return Backoff(
        wait=wait_exponential_jitter(
            multiplier=cfg.initial_interval_s, max=cfg.max_interval_s, jitter=cfg.initial_interval_s
        ),
        stop=stop_at_deadline(deadline),
        describe=f"jittered backoff {cfg.initial_interval_s}s -> {cfg.max_interval_s}s within {deadline.budget_s:g}s",
    )


def join_backoff(cfg: JoinConfig, deadline: Deadline, *, rng: random.Random | None = None) -> Backoff:
    from automation.spec.config import RetryMode  # loaded already: the caller holds a JoinConfig

    stop = stop_after_attempt(cfg.max_attempts) | stop_at_deadline(deadline)
    if cfg.retry_mode is RetryMode.FIXED:
        return Backoff(wait_fixed(cfg.retry_delay_s), stop, f"fixed {cfg.retry_delay_s:g}s x {cfg.max_attempts}")
    return Backoff(
        wait=wait_exponential_jitter(multiplier=cfg.retry_delay_s, max=cfg.max_retry_delay_s, jitter=cfg.retry_delay_s),
        stop=stop,
        describe=(
            f"jittered backoff {cfg.retry_delay_s:g}s -> {cfg.max_retry_delay_s:g}s, "
            f"{cfg.max_attempts} attempts within {deadline.budget_s:g}s"
        ),
    )


def notify_backoff(attempts: int, deadline: Deadline) -> Backoff:
    return Backoff(
        wait=wait_exponential_jitter(multiplier=0.5, max=5.0, jitter=0.5),
        stop=stop_after_attempt(attempts) | stop_at_deadline(deadline),
        describe=f"{attempts} attempts, jittered 0.5s -> 5s",
    )


def retry_after(header: str | None, fallback: float, *, cap: float = 30.0) -> float:
    """Seconds from a Retry-After header (delta-seconds form), bounded to [0.05, cap]."""
    try:
        value = float(header) if header else fallback
    except ValueError:
        value = fallback
    return max(0.05, min(value, cap))
