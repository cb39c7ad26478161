"""Policies stay inside their bounds; deadlines never oversleep; Retry-After is read both ways."""

from __future__ import annotations

from email.utils import formatdate

from hypothesis import given
from hypothesis import strategies as st
from tenacity import RetryCallState, Retrying

from automation.policy import Deadline, health_policy, join_policy, parse_retry_after
from automation.spec.config import HealthConfig, JoinConfig, RetryMode

from .fakeclock import WALL_EPOCH, FakeClock


def _wait(policy_wait: object, attempt: int) -> float:
    """The policy's wait for a real tenacity retry state at `attempt`."""
    state = RetryCallState(Retrying(), fn=None, args=(), kwargs={})
    state.attempt_number = attempt
    return float(policy_wait(state))  # type: ignore[operator]


@given(st.floats(0.01, 2.0), st.floats(2.0, 30.0), st.integers(1, 60))
def test_health_backoff_bounds(initial: float, cap: float, attempt: int) -> None:
    policy = health_policy(HealthConfig(initial_interval_s=initial, max_interval_s=cap))
    assert 0 <= _wait(policy.wait, attempt) <= cap


def test_health_backoff_default_schedule_starts_small_and_caps_at_5s() -> None:
    policy = health_policy(HealthConfig())
    delays = [_wait(policy.wait, i) for i in range(1, 12)]
    assert delays[0] <= 0.2
    assert max(delays) <= 5.0
    assert delays[-1] == 5.0


def test_fixed_mode_is_the_designs_policy() -> None:
    policy = join_policy(JoinConfig(retry_mode=RetryMode.FIXED, retry_delay_s=10, max_attempts=5))
    assert [_wait(policy.wait, i) for i in range(1, 5)] == [10, 10, 10, 10]
    assert policy.max_attempts == 5


def test_backoff_is_the_join_policys_doubling_jittered_wait() -> None:
    """What the join paces its reads after an accepted add with: retry_delay_s doubling to
    max_retry_delay_s, plus up to retry_delay_s of jitter, capped."""
    policy = join_policy(JoinConfig(retry_delay_s=1, max_retry_delay_s=16))
    for n, low in [(1, 1), (2, 2), (3, 4), (4, 8), (5, 16), (9, 16)]:
        assert low <= policy.backoff(n) <= min(16, low + 1)
    assert 1 <= policy.backoff(0) <= 2  # counted from 1
    fixed = join_policy(JoinConfig(retry_mode=RetryMode.FIXED, retry_delay_s=10))
    assert [fixed.backoff(n) for n in (1, 2, 7)] == [10, 10, 10]


@given(st.floats(0, 1000), st.floats(0, 100))
def test_deadline_never_sleeps_past_budget(budget: float, want: float) -> None:
    fake = FakeClock()
    deadline = Deadline.start(budget, fake.clock())
    for _ in range(5):
        deadline.sleep(want)
    assert fake.now <= budget + 1e-9
    assert deadline.cap(10.0) >= 0.1


def test_sub_deadline_ends_with_its_parent() -> None:
    fake = FakeClock()
    parent = Deadline.start(10, fake.clock())
    fake.now = 8
    assert parent.sub(5).budget_s == 2
    assert parent.sub(1).budget_s == 1


def test_retry_after_delta_seconds() -> None:
    assert parse_retry_after("2", now_wall=WALL_EPOCH) == 2.0
    assert parse_retry_after(" 120 ", now_wall=WALL_EPOCH) == 120.0
    assert parse_retry_after("0", now_wall=WALL_EPOCH) == 0.0


def test_retry_after_http_date_is_seconds_from_now() -> None:
    header = formatdate(WALL_EPOCH + 30, usegmt=True)  # e.g. "Fri, 15 Jan 2027 08:00:30 GMT"
    assert parse_retry_after(header, now_wall=WALL_EPOCH) == 30.0


def test_retry_after_date_in_the_past_means_now() -> None:
    assert parse_retry_after(formatdate(WALL_EPOCH - 600, usegmt=True), now_wall=WALL_EPOCH) == 0.0


def test_retry_after_unreadable_is_none() -> None:
    for header in (None, "", "soon", "-5", "1.5", "Mon, 99 Foo 2027 99:99:99 GMT"):
        assert parse_retry_after(header, now_wall=WALL_EPOCH) is None, header


def test_retry_after_http_date_counts_from_the_answers_date() -> None:
    """Break 10, G10 (RFC 9110, 10.2.3): the peer's Date, not our clock, is "now"."""
    ahead = WALL_EPOCH + 3600
    header = formatdate(ahead + 2, usegmt=True)
    assert parse_retry_after(header, now_wall=WALL_EPOCH, date=formatdate(ahead, usegmt=True)) == 2.0
    assert parse_retry_after(header, now_wall=WALL_EPOCH, date="not a date") == 3602.0
    assert parse_retry_after(header, now_wall=WALL_EPOCH, date=formatdate(ahead + 10, usegmt=True)) == 0.0
    assert parse_retry_after("5", now_wall=WALL_EPOCH, date=formatdate(ahead, usegmt=True)) == 5.0
