"""Backoff schedules stay inside their bounds; deadlines never oversleep."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from automation.policy import Clock, Deadline, health_backoff, join_backoff, retry_after
from automation.spec.config import HealthConfig, JoinConfig, RetryMode


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def clock(self) -> Clock:
        return Clock(monotonic=self.monotonic, sleep=self.sleep)


@given(st.floats(0.01, 2.0), st.floats(2.0, 30.0), st.integers(1, 60))
def test_health_backoff_bounds(initial: float, cap: float, attempt: int) -> None:
    cfg = HealthConfig(initial_interval_s=initial, max_interval_s=cap)
    delay = health_backoff(cfg, Deadline.start(100, FakeClock().clock())).delay(attempt)
    assert 0 <= delay <= cap


def test_health_backoff_default_schedule_starts_small_and_caps_at_5s() -> None:
    backoff = health_backoff(HealthConfig(), Deadline.start(120, FakeClock().clock()))
    delays = [backoff.delay(i) for i in range(1, 12)]
    assert delays[0] <= 0.2
    assert max(delays) <= 5.0
    assert delays[-1] == 5.0


@given(st.integers(1, 20))
def test_join_attempts_are_bounded(max_attempts: int) -> None:
    backoff = join_backoff(JoinConfig(max_attempts=max_attempts), Deadline.start(1e6, FakeClock().clock()))
    assert backoff.should_stop(max_attempts)
    assert not backoff.should_stop(max_attempts - 1) or max_attempts == 1


def test_fixed_mode_is_the_designs_policy() -> None:
    backoff = join_backoff(
        JoinConfig(retry_mode=RetryMode.FIXED, retry_delay_s=10, max_attempts=5),
        Deadline.start(300, FakeClock().clock()),
    )
    assert [backoff.delay(i) for i in range(1, 5)] == [10, 10, 10, 10]
    assert backoff.should_stop(5)


def test_join_stops_at_deadline() -> None:
    fake = FakeClock()
    deadline = Deadline.start(30, fake.clock())
    backoff = join_backoff(JoinConfig(max_attempts=1000), deadline)
    fake.now = 31
    assert backoff.should_stop(2)


@given(st.floats(0, 1000), st.floats(0, 100))
def test_deadline_never_sleeps_past_budget(budget: float, want: float) -> None:
    fake = FakeClock()
    deadline = Deadline.start(budget, fake.clock())
    for _ in range(5):
        deadline.sleep(want)
    assert fake.now <= budget + 1e-9
    assert deadline.cap(10.0) >= 0.1


def test_retry_after() -> None:
    assert retry_after("2", 1.0) == 2.0
    assert retry_after("junk", 1.5) == 1.5
    assert retry_after("9999", 1.0) == 30.0
    assert retry_after(None, 0.0) == 0.05
