"""Time and retry policies, as named values.

Every wait in `fba` goes through a `Deadline` (wall-clock budget, injectable clock) and a named
`RetryPolicy` run by `automation.retry` (tenacity underneath, fed its real retry state). Sleeps
are capped by what is left of the deadline, and every request gets at most
`min(request timeout, time left)` for all of its phases, so a step ends within its budget plus
one request or poll, never "one more full interval".

The design polled every 5 s and retried joins every 10 s. We back off with jitter instead:
health polls from 0.1 s doubling to a 5 s cap (a service that comes up in 300 ms is seen in
~300 ms, not 5 s), joins from 1 s to 16 s (the design's "future enhancement 1"). The design's
fixed policy stays available: `join.retry_mode: "fixed"`.
"""

from __future__ import annotations

import email.utils
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tenacity import RetryCallState, Retrying, wait_exponential_jitter, wait_fixed
from tenacity.wait import wait_base

# Deadline and Clock live in automation.deadline (no tenacity, no pydantic: `fba status` needs
# only them); re-exported here for the steps that use both.
from automation.deadline import SYSTEM_CLOCK as SYSTEM_CLOCK
from automation.deadline import Clock as Clock
from automation.deadline import Deadline as Deadline
from automation.spec.numbers import ascii_number

if TYPE_CHECKING:  # the config model costs ~0.1 s to import; `fba status` needs only Deadline
    from automation.spec.config import HealthConfig, JoinConfig

MAX_FREE_HOPS = 5  # leader hints and verifications followed in a row without using up an attempt
MIN_DELAY_S = 0.05  # the least time between two requests of one step, whatever a peer says
REQUEST_BACKSTOP = 10_000  # requests per step; the deadline ends every step long before this
# A Retry-After above this is read as this: longer than any step's deadline (at most 86400 s),
# so it ends the step at once, as any wait beyond the deadline does (400 nines overflowed float()).
MAX_RETRY_AFTER_S = 10**9


@dataclass(frozen=True)
class RetryPolicy:
    """How one step retries: the wait between tries, how many failures it may use up, and the
    per-request timeout. The step's `Deadline` bounds it all."""

    name: str
    wait: wait_base  # a tenacity wait strategy, fed tenacity's real retry state
    max_attempts: int  # failures (Verdict.ATTEMPT) before giving up
    request_timeout_s: float
    describe: str
    max_free_hops: int = MAX_FREE_HOPS

    def backoff(self, n: int) -> float:
        """The policy's wait before its `n`-th retry (1: the first), jitter included, exactly as
        the engine would compute it: for waits a step paces itself, counting its own retries
        (e.g. the join's reads after an accepted add, however many hops came between)."""
        state = RetryCallState(Retrying(), None, (), {})
        state.attempt_number = max(1, n)
        return float(self.wait(state))


def health_policy(cfg: HealthConfig) -> RetryPolicy:
    return RetryPolicy(
        name="health",
        wait=wait_exponential_jitter(
            multiplier=cfg.initial_interval_s, max=cfg.max_interval_s, jitter=cfg.initial_interval_s
        ),
        max_attempts=REQUEST_BACKSTOP,  # every answer but "never" is "not yet": only the deadline ends it
        request_timeout_s=cfg.request_timeout_s,
        describe=f"jittered backoff {cfg.initial_interval_s:g}s -> {cfg.max_interval_s:g}s",
    )


def join_policy(cfg: JoinConfig, *, name: str = "join") -> RetryPolicy:
    from automation.spec.config import RetryMode  # loaded already: the caller holds a JoinConfig

    if cfg.retry_mode is RetryMode.FIXED:
        wait: wait_base = wait_fixed(cfg.retry_delay_s)
        describe = f"fixed {cfg.retry_delay_s:g}s x {cfg.max_attempts}"
    else:
        wait = wait_exponential_jitter(
            multiplier=cfg.retry_delay_s, max=cfg.max_retry_delay_s, jitter=cfg.retry_delay_s
        )
        describe = f"jittered backoff {cfg.retry_delay_s:g}s -> {cfg.max_retry_delay_s:g}s, {cfg.max_attempts} attempts"
    return RetryPolicy(name, wait, cfg.max_attempts, cfg.request_timeout_s, describe)


def notify_policy(attempts: int) -> RetryPolicy:
    return RetryPolicy(
        name="notify",
        wait=wait_exponential_jitter(multiplier=0.5, max=5.0, jitter=0.5),
        max_attempts=attempts,
        request_timeout_s=10.0,
        describe=f"{attempts} attempts, jittered 0.5s -> 5s",
    )


def parse_retry_after(header: str | None, *, now_wall: float, date: str | None = None) -> float | None:
    """Seconds a `Retry-After` header asks for (RFC 9110: delta-seconds or an HTTP date), or None
    when absent or unreadable. A date in the past means "now" (0).

    `date`: the answer's own `Date` header. An HTTP-date Retry-After is the peer's clock, and
    RFC 9110 (10.2.3) counts it from the answer's Date: against our clock, a peer 1 h ahead
    (a first boot before NTP) turned "in 2 s" into 3602 s and ended the step at once (break
    10, G10). Our clock only when the answer has no readable Date."""
    if header is None or not header.strip():
        return None
    text = header.strip()
    seconds = ascii_number(text, limit=MAX_RETRY_AFTER_S)  # not isdigit(): '²' is a digit to it
    if seconds is not None:
        return float(seconds)
    when = _http_date(text)
    if when is None:
        return None
    sent = _http_date(date) if date else None
    return max(0.0, when - (sent if sent is not None else now_wall))


def _http_date(text: str) -> float | None:
    """An HTTP date as a timestamp; None when unreadable or without a zone (RFC 9110 dates are
    GMT; a zone-less one is not read as ours)."""
    try:
        when = email.utils.parsedate_to_datetime(text.strip())
    except (TypeError, ValueError, IndexError, OverflowError):  # a year past datetime's range
        return None
    return when.timestamp() if when.tzinfo is not None else None
