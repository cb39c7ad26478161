"""Bounded waits: one deadline, jittered backoff, and an error that says what it saw.

Every wait in the harness goes through `wait_until`. Its promises:

- It ends within `timeout` plus one poll interval: each attempt is told only the time left
  (never the whole budget again, the NixOS driver's `wait_until_succeeds` flaw), and the
  sleep between attempts never reaches past the deadline.
- `timeout=None` means the global budget (`GLOBAL_BUDGET`), never "forever".
- On expiry it raises `WaitTimeout` naming what was awaited, elapsed against budget, the
  attempt count, the last exit code and the last 20 lines of output. The predicate reports
  what it saw by returning an `Observation`.
- Clock and sleep are injectable; unit tests pass a fake clock and no real time passes.

Policies are named tenacity values and always carry a stop.

```python
def port_open(time_left: float) -> Observation:
    res = channel.run("ss -ltn | grep -q :22", timeout=time_left)
    return Observation(ok=res.rc == 0, rc=res.rc, output=res.stdout + res.stderr)

wait_until(port_open, what="port 22 open on node01", timeout=30)
```
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from tenacity import RetryCallState, Retrying, retry_if_result
from tenacity.stop import stop_base
from tenacity.wait import wait_base, wait_exponential_jitter

from harness.errors import UsageError, WaitTimeout

__all__ = [
    "BACKOFF",
    "GLOBAL_BUDGET",
    "MIN_ATTEMPT",
    "OUTPUT_TAIL_LINES",
    "POLL_EVERY_SECOND",
    "Clock",
    "Duration",
    "Observation",
    "Sleep",
    "WaitExpired",
    "seconds",
    "tail",
    "wait_until",
]

Duration = timedelta | int | float
Clock = Callable[[], float]
Sleep = Callable[[float], None]

GLOBAL_BUDGET: float = 900.0
"""What `timeout=None` means: the driver's historical default, but as a real bound."""

MIN_ATTEMPT: float = 1.0
"""Time an attempt is granted when the deadline is (almost) reached: the final look. One
SSH round trip takes ~1.3 s under TCG, so less would make the last look always time out."""

OUTPUT_TAIL_LINES = 20

BACKOFF: wait_base = wait_exponential_jitter(multiplier=0.1, max=5.0, jitter=0.1)
"""Default between-attempt policy: 0.1 s doubling to 5 s, plus up to 0.1 s of jitter.
Jitter keeps several waiting nodes from polling a shared service in lockstep."""

POLL_EVERY_SECOND: wait_base = wait_exponential_jitter(multiplier=1.0, max=1.0, jitter=0.0)
"""The driver's fixed 1 s poll, for `retry()` in test scripts."""


def seconds(value: Duration | None, *, default: float = GLOBAL_BUDGET) -> float:
    """A `Duration` in seconds; `None` is the `default` budget (never infinity).

    Raises:
        UsageError (a ValueError): for what is always a caller bug: a negative, NaN or infinite
            duration (NaN made a deadline no clock reaches: a wait that never ended), a bool
            (`True` was one second) or anything not a number or `timedelta` (a string was parsed).
            The NixOS driver's `as_timedelta` refuses the same shapes (bool, non-numbers; inf
            overflows its `timedelta`).
    """
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, timedelta | int | float):
        raise UsageError(f"duration must be seconds (int or float) or a timedelta: got {value!r}")
    result = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if not math.isfinite(result):
        raise UsageError(f"duration must be a finite number of seconds: got {result}")
    if result < 0:
        raise UsageError(f"duration must not be negative: got {result} s")
    return result


def tail(text: str, lines: int = OUTPUT_TAIL_LINES) -> str:
    """The last `lines` lines of `text` (all of it when shorter)."""
    return "\n".join(text.rstrip("\n").splitlines()[-lines:])


@dataclass(frozen=True)
class Observation:
    """What one attempt saw. `ok` ends the wait; `rc` and `output` feed the error text."""

    ok: bool
    rc: int | None = None
    output: str = ""
    detail: str = ""
    """One line of state for the error, e.g. "ActiveState=activating"."""


class WaitExpired(WaitTimeout):
    """`WaitTimeout` with the facts as fields, for reports and tests."""

    def __init__(
        self,
        what: str,
        *,
        elapsed: float,
        budget: float,
        attempts: int,
        last: Observation | None,
        last_completed: Observation | None = None,
        extra: str = "",
    ) -> None:
        self.what = what
        self.extra = extra
        self.last_completed = last_completed
        self.elapsed = elapsed
        self.budget = budget
        self.attempts = attempts
        self.last = last
        message = self._render()
        super().__init__(f"{message}\n{extra}" if extra else message)

    def _render(self) -> str:
        head = (
            f"timed out waiting for {self.what}: gave up after {self.elapsed:.1f} s "
            f"of a {self.budget:.1f} s budget, {self.attempts} attempt"
            f"{'' if self.attempts == 1 else 's'}"
        )
        if self.last is None:
            return head + "; no attempt completed; raise the timeout or check the node"
        # An attempt cut short by the deadline says little; show the last one that finished.
        shown = self.last_completed if self.last.rc is None and self.last_completed else self.last
        parts = [head, f"last rc: {shown.rc if shown.rc is not None else 'none'}"]
        if self.last.detail:
            parts.append(f"last state: {self.last.detail}")
        out = tail(shown.output)
        parts.append(f"last output (last {OUTPUT_TAIL_LINES} lines):\n{out}" if out else "last output: empty")
        return "; ".join(parts)


class _StopAtDeadline(stop_base):
    """Stop once the injected clock passes the deadline (tenacity's own uses real time)."""

    def __init__(self, deadline: float, clock: Clock) -> None:
        self._deadline = deadline
        self._clock = clock

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self._clock() >= self._deadline


class _ClampToDeadline(wait_base):
    """The backoff, but never sleeping past the deadline: bounds the overshoot."""

    def __init__(self, inner: wait_base, deadline: float, clock: Clock) -> None:
        self._inner = inner
        self._deadline = deadline
        self._clock = clock

    def __call__(self, retry_state: RetryCallState) -> float:
        return max(0.0, min(self._inner(retry_state), self._deadline - self._clock()))


def wait_until(
    predicate: Callable[[float], Observation | bool],
    *,
    what: str,
    timeout: Duration | None,
    clock: Clock = time.monotonic,
    sleep: Sleep = time.sleep,
    backoff: wait_base = BACKOFF,
    deadline_cap: float | None = None,
    on_attempt: Callable[[int, Observation], None] | None = None,
) -> Observation:
    """Call `predicate(time_left)` until it reports `ok`, within `timeout`.

    `predicate` receives the seconds it may spend (at least `MIN_ATTEMPT`) and returns an
    `Observation` (or a bare bool). `deadline_cap` is an absolute clock value (a per-run
    deadline) that shortens the budget. `on_attempt(n, observation)` is called after every
    attempt, e.g. to record it on the timeline. Exceptions from the predicate propagate:
    turn expected ones (connection refused while booting) into `Observation(ok=False)`.

    Returns the successful `Observation`.

    Raises:
        WaitExpired: (a `WaitTimeout`) when the deadline passes; says what it last saw.
    """
    budget = seconds(timeout)
    start = clock()
    deadline = start + budget
    if deadline_cap is not None and deadline_cap < deadline:
        deadline = deadline_cap
        budget = max(0.0, deadline - start)
    attempts = 0
    last: Observation | None = None
    last_completed: Observation | None = None

    def attempt() -> Observation:
        nonlocal attempts, last, last_completed
        attempts += 1
        raw = predicate(max(MIN_ATTEMPT, deadline - clock()))
        last = raw if isinstance(raw, Observation) else Observation(ok=bool(raw))
        if last.rc is not None:
            last_completed = last
        if on_attempt is not None:
            on_attempt(attempts, last)
        return last

    policy = Retrying(
        stop=_StopAtDeadline(deadline, clock),
        wait=_ClampToDeadline(backoff, deadline, clock),
        retry=retry_if_result(lambda obs: not obs.ok),
        sleep=sleep,
        retry_error_callback=lambda state: None,
        reraise=True,
    )
    result = policy(attempt)
    if isinstance(result, Observation) and result.ok:
        return result
    raise WaitExpired(
        what,
        elapsed=clock() - start,
        budget=budget,
        attempts=attempts,
        last=last,
        last_completed=last_completed,  # the last attempt cut short by the deadline says little
    )
