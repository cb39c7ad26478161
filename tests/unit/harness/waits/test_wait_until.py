"""wait_until: bounded by timeout + one poll, explains itself, no real time passes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tenacity.wait import wait_fixed

from harness.errors import UsageError, WaitTimeout
from harness.waits import (
    GLOBAL_BUDGET,
    MIN_ATTEMPT,
    Observation,
    WaitExpired,
    seconds,
    tail,
    wait_until,
)
from tests.unit.harness.machine.fakes import FakeClock


def test_seconds_accepts_all_duration_shapes() -> None:
    assert seconds(5) == 5.0
    assert seconds(2.5) == 2.5
    assert seconds(timedelta(minutes=1)) == 60.0
    assert seconds(None) == GLOBAL_BUDGET
    with pytest.raises(ValueError, match="must not be negative"):
        seconds(-1)


@pytest.mark.parametrize(
    ("value", "says"),
    [(float("nan"), "finite"), (float("inf"), "finite"), (True, "a timedelta"), ("5", "a timedelta"),
     ([1], "a timedelta"), (timedelta.max, None)],
)  # fmt: skip
def test_seconds_refuses_what_no_wait_can_use(value: object, says: str | None) -> None:
    # NaN made a deadline no clock reaches; True was one second; "5" was parsed.
    if says is None:  # a huge but finite timedelta is a duration (the run deadline caps it)
        assert seconds(value) > 0  # type: ignore[arg-type]
        return
    with pytest.raises(UsageError, match=says):
        seconds(value)  # type: ignore[arg-type]


def test_returns_first_ok_observation() -> None:
    clock = FakeClock()
    seen = iter([Observation(ok=False), Observation(ok=True, rc=0, output="hi")])
    obs = wait_until(lambda _l: next(seen), what="x", timeout=10, clock=clock, sleep=clock.sleep)
    assert obs.output == "hi"
    assert len(clock.naps) == 1


def test_bool_predicates_are_accepted() -> None:
    clock = FakeClock()
    assert wait_until(lambda _l: True, what="x", timeout=1, clock=clock, sleep=clock.sleep).ok


def test_timeout_message_says_what_elapsed_attempts_rc_and_output() -> None:
    clock = FakeClock()
    output = "\n".join(f"line {i}" for i in range(30))

    def never(_left: float) -> Observation:
        clock.now += 0.5
        return Observation(ok=False, rc=3, output=output, detail="ActiveState=activating")

    with pytest.raises(WaitTimeout) as info:
        wait_until(never, what="the thing", timeout=5, clock=clock, sleep=clock.sleep)
    err = info.value
    assert isinstance(err, WaitExpired)
    text = str(err)
    assert text.startswith("timed out waiting for the thing: gave up after ")
    assert "of a 5.0 s budget" in text
    assert f"{err.attempts} attempts" in text
    assert "last rc: 3" in text
    assert "last state: ActiveState=activating" in text
    assert "line 29" in text and "line 10" in text and "line 9\n" not in text
    assert err.elapsed <= 5 + 0.5 + MIN_ATTEMPT


def test_each_attempt_gets_only_the_time_left() -> None:
    clock = FakeClock()
    budgets: list[float] = []

    def slow(left: float) -> Observation:
        budgets.append(left)
        clock.now += min(left, 2.0)
        return Observation(ok=False)

    with pytest.raises(WaitExpired):
        wait_until(slow, what="x", timeout=5, clock=clock, sleep=clock.sleep, backoff=wait_fixed(0))
    assert budgets[0] == 5.0
    assert all(b2 < b1 for b1, b2 in zip(budgets, budgets[1:], strict=False) if b1 > MIN_ATTEMPT)


def test_sleep_never_passes_the_deadline() -> None:
    clock = FakeClock()
    with pytest.raises(WaitExpired):
        wait_until(lambda _l: False, what="x", timeout=3, clock=clock, sleep=clock.sleep,
                   backoff=wait_fixed(100))  # fmt: skip
    assert clock.naps == [3.0]


def test_backoff_grows_from_a_tenth_to_five_seconds() -> None:
    clock = FakeClock()
    with pytest.raises(WaitExpired):
        wait_until(lambda _l: False, what="x", timeout=60, clock=clock, sleep=clock.sleep)
    assert 0.1 <= clock.naps[0] <= 0.2
    assert max(clock.naps) <= 5.0 + 1e-9
    assert any(n >= 4.9 for n in clock.naps)


def test_none_timeout_is_the_global_budget_not_forever() -> None:
    clock = FakeClock()
    with pytest.raises(WaitExpired) as info:
        wait_until(lambda _l: False, what="x", timeout=None, clock=clock, sleep=clock.sleep)
    assert info.value.budget == GLOBAL_BUDGET


def test_deadline_cap_shortens_the_budget() -> None:
    clock = FakeClock()
    with pytest.raises(WaitExpired) as info:
        wait_until(lambda _l: False, what="x", timeout=100, clock=clock, sleep=clock.sleep,
                   deadline_cap=clock.now + 7)  # fmt: skip
    assert info.value.budget == 7
    assert clock.now - 1000.0 <= 7 + MIN_ATTEMPT


def test_predicate_exceptions_propagate_unwrapped() -> None:
    clock = FakeClock()

    def boom(_left: float) -> Observation:
        raise KeyError("nope")

    with pytest.raises(KeyError):
        wait_until(boom, what="x", timeout=5, clock=clock, sleep=clock.sleep)


def test_on_attempt_sees_every_attempt() -> None:
    clock = FakeClock()
    calls: list[int] = []
    with pytest.raises(WaitExpired):
        wait_until(lambda _l: False, what="x", timeout=2, clock=clock, sleep=clock.sleep,
                   on_attempt=lambda n, _o: calls.append(n))  # fmt: skip
    assert calls == list(range(1, len(calls) + 1)) and len(calls) > 1


def test_no_attempt_message() -> None:
    err = WaitExpired("y", elapsed=1, budget=1, attempts=0, last=None)
    assert str(err) == (
        "timed out waiting for y: gave up after 1.0 s of a 1.0 s budget, 0 attempts; "
        "no attempt completed; raise the timeout or check the node"
    )


def test_tail_keeps_last_lines() -> None:
    assert tail("a\nb\nc\n", 2) == "b\nc"


@settings(max_examples=200, deadline=None)
@given(
    timeout=st.floats(min_value=0, max_value=1000),
    cost=st.floats(min_value=0, max_value=50),
)
def test_property_always_ends_within_timeout_plus_one_poll(timeout: float, cost: float) -> None:
    """Whatever an attempt costs (it honours its budget), the wait ends by timeout + MIN_ATTEMPT."""
    clock = FakeClock()

    def attempt(left: float) -> Observation:
        clock.now += min(cost, left)
        return Observation(ok=False)

    with pytest.raises(WaitExpired):
        wait_until(attempt, what="x", timeout=timeout, clock=clock, sleep=clock.sleep)
    assert clock.now - 1000.0 <= timeout + MIN_ATTEMPT + 1e-6


def test_timeout_message_names_the_last_completed_attempt_when_the_last_was_cut_short() -> None:
    """rc 1, then rc 3, then an attempt the deadline cut short (rc None): the message reports
    rc 3 and that attempt's output, not "last rc: none" with the cut-short attempt's text."""
    clock = FakeClock()
    answers = iter(
        [
            (1.0, Observation(ok=False, rc=1, output="first try: refused")),
            (1.0, Observation(ok=False, rc=3, output="second try: not yet, state=joining")),
        ]
    )

    def attempt(left: float) -> Observation:
        step = next(answers, None)
        if step is None:  # the third attempt runs into the deadline, as a timed-out command does
            clock.now += left
            return Observation(ok=False, rc=None, output="partial", detail="still running after 1.0 s")
        takes, observation = step
        clock.now += takes
        return observation

    with pytest.raises(WaitExpired) as info:
        wait_until(attempt, what="the join", timeout=5, clock=clock, sleep=clock.sleep, backoff=wait_fixed(1.0))
    err = info.value
    assert err.attempts == 3
    assert err.last is not None and err.last.rc is None
    assert err.last_completed is not None and err.last_completed.rc == 3
    text = str(err)
    assert "3 attempts" in text
    assert "last rc: 3" in text and "last rc: none" not in text
    assert "second try: not yet, state=joining" in text
    assert "first try" not in text and "partial" not in text
    assert "last state: still running after 1.0 s" in text  # the state is the latest one seen
