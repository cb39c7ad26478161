"""The request/retry engine with an injected clock: no real time passes, every sleep is seen."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from email.utils import formatdate
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tenacity import wait_exponential, wait_fixed

from automation.errors import JoinFailed, StepFailed
from automation.http import Response, TransportError
from automation.log import Logger
from automation.policy import MIN_DELAY_S, Deadline, RetryPolicy
from automation.retry import Outcome, Try, Verdict, classify, classify_error, done, run
from automation.spec.causes import Cause
from automation.spec.http_status import TRANSIENT_STATUSES, Meaning, meaning_of

from .fakeclock import WALL_EPOCH, FakeClock

POLICY = RetryPolicy("test", wait_fixed(0.1), max_attempts=3, request_timeout_s=2.0, describe="test")


class Script:
    """A step that answers its outcomes in turn (then repeats the last) and records each Try."""

    def __init__(self, *outcomes: Outcome[str]) -> None:
        self.outcomes = list(outcomes)
        self.tries: list[Try] = []

    def __call__(self, t: Try) -> Outcome[str]:
        self.tries.append(t)
        return self.outcomes[min(len(self.tries), len(self.outcomes)) - 1]


def _run(script: Script, fake: FakeClock, *, budget: float = 30.0, policy: RetryPolicy = POLICY) -> tuple[Any, str]:
    out = io.StringIO()
    value = run(
        script, policy=policy, deadline=Deadline.start(budget, fake.clock()), log=Logger(stream=out), what="Thing"
    )
    return value, out.getvalue()


def _fail(script: Script, fake: FakeClock, **kwargs: Any) -> tuple[StepFailed, list[dict[str, Any]]]:
    out = io.StringIO()
    budget = kwargs.pop("budget", 30.0)
    with pytest.raises(StepFailed) as caught:
        run(script, deadline=Deadline.start(budget, fake.clock()), log=Logger(stream=out), what="Thing", **kwargs)
    return caught.value, [json.loads(line) for line in out.getvalue().splitlines()]


LATER_1 = Outcome[str](Verdict.TRANSIENT, Cause.TRY_LATER, "HTTP 429 from POST u", retry_after=1.0, http_code=429)


def test_transient_answers_wait_their_retry_after_then_succeed() -> None:
    fake = FakeClock()
    script = Script(LATER_1, LATER_1, done("joined"))
    value, log = _run(script, fake)
    assert value == "joined"
    assert fake.slept == [1.0, 1.0]
    assert "retrying in 1.0s" in log


def test_transient_and_busy_do_not_use_up_attempts() -> None:
    fake = FakeClock()
    busy = Outcome[str](Verdict.BUSY, Cause.NO_QUORUM)
    script = Script(*([busy, LATER_1] * 5), done("ok"))
    value, _ = _run(script, fake, budget=100)
    assert value == "ok"
    assert [t.attempt for t in script.tries] == [1] * 11


def test_attempt_failures_are_bounded_by_max_attempts() -> None:
    fake = FakeClock()
    err = TransportError("GET u: connection refused", cause=Cause.CONNECTION_REFUSED)
    script = Script(classify_error(err).failure())
    failure, lines = _fail(script, fake, policy=POLICY)
    assert len(script.tries) == 3
    assert failure.cause is Cause.CONNECTION_REFUSED
    assert failure.__cause__ is err  # the underlying error is kept
    assert lines[-1]["level"] == "ERROR" and lines[-1]["context"]["cause"] == "connection refused"
    assert lines[-1]["message"].startswith("Thing failed after 3 attempts")


def test_permanent_ends_at_once_quoting_the_answer() -> None:
    fake = FakeClock()
    never = Outcome[str](Verdict.PERMANENT, Cause.REJECTED, 'HTTP 403 from POST u: {"error": "forbidden"}')
    script = Script(never)
    failure, lines = _fail(script, fake, policy=POLICY, failure=JoinFailed)
    assert isinstance(failure, JoinFailed) and failure.logged
    assert len(script.tries) == 1 and fake.slept == []
    assert failure.message == 'Thing failed: rejected (HTTP 403 from POST u: {"error": "forbidden"})'


def test_deadline_ends_a_peer_that_is_always_busy() -> None:
    fake = FakeClock()
    script = Script(Outcome[str](Verdict.BUSY, Cause.CHANGE_IN_FLIGHT))
    failure, _ = _fail(script, fake, policy=POLICY, budget=5.0)
    assert failure.cause is Cause.CHANGE_IN_FLIGHT
    assert fake.now <= 5.0 + 1e-9
    assert sum(fake.slept) <= 5.0 + 1e-9


def test_retry_after_beyond_the_deadline_ends_now_instead_of_sleeping() -> None:
    fake = FakeClock()
    script = Script(Outcome[str](Verdict.TRANSIENT, Cause.TRY_LATER, "HTTP 503 from u", retry_after=3600.0))
    failure, lines = _fail(script, fake, policy=POLICY, budget=10.0)
    assert failure.cause is Cause.RETRY_AFTER_BEYOND_DEADLINE
    assert fake.slept == [] and len(script.tries) == 1
    assert "asked to wait 3600s with 10.0s left" in failure.message


def test_retry_after_zero_still_waits_the_floor() -> None:
    fake = FakeClock()
    zero = Outcome[str](Verdict.TRANSIENT, Cause.TRY_LATER, retry_after=0.0)
    _run(Script(zero, done("ok")), fake, policy=RetryPolicy("p", wait_fixed(0), 3, 1.0, "p"))
    assert fake.slept == [MIN_DELAY_S]


def test_hops_are_free_up_to_the_cap_then_count() -> None:
    fake = FakeClock()
    hop = Outcome[str](Verdict.HOP, Cause.NOT_LEADER, delay=0)
    script = Script(hop)
    policy = RetryPolicy("p", wait_fixed(0.1), max_attempts=2, request_timeout_s=1.0, describe="p", max_free_hops=3)
    failure, _ = _fail(script, fake, policy=policy)
    assert failure.cause is Cause.NOT_LEADER
    assert len(script.tries) == 8  # (3 free + 1 counted) x 2 attempts


def test_a_hint_is_followed_at_once_however_many_tries_came_before() -> None:
    # CI, S6: after 6 tries each leader hint waited the 6th try's backoff (16 s), and a failover
    # through 5 hints outlasted the 292 s the harness gave it.
    fake = FakeClock()
    busy = Outcome[str](Verdict.BUSY, Cause.NO_LEADER)
    hint = Outcome[str](Verdict.HOP, Cause.NOT_LEADER, "u names v")
    script = Script(*([busy] * 6), hint, hint, done("ok"))
    policy = RetryPolicy("p", wait_exponential(multiplier=1, max=16), 20, 1.0, "p")
    value, _ = _run(script, fake, budget=600, policy=policy)
    assert value == "ok"
    assert fake.slept[6:] == [0.0, 0.0]


def test_after_an_attempt_the_backoff_is_that_of_the_attempts_used_up() -> None:
    fake = FakeClock()
    busy = Outcome[str](Verdict.BUSY, Cause.NO_LEADER)
    failed = Outcome[str](Verdict.ATTEMPT, Cause.CONNECT_TIMEOUT, "GET u: connect timed out")
    script = Script(*([busy] * 6), failed, failed, done("ok"))
    policy = RetryPolicy("p", wait_exponential(multiplier=1, max=16), 20, 1.0, "p")
    _run(script, fake, budget=600, policy=policy)
    assert fake.slept[6:] == [1.0, 2.0]  # the 1st and 2nd attempt's, not the 7th and 8th try's


def test_a_hop_that_uses_up_an_attempt_backs_off() -> None:
    fake = FakeClock()
    hint = Outcome[str](Verdict.HOP, Cause.NOT_LEADER, "u names v")
    policy = RetryPolicy("p", wait_exponential(multiplier=1, max=16), 3, 1.0, "p", max_free_hops=2)
    _fail(Script(hint), fake, policy=policy, budget=600)
    assert fake.slept == [0.0, 0.0, 1.0, 0.0, 0.0, 2.0, 0.0, 0.0]


def test_each_request_gets_at_most_the_time_left() -> None:
    fake = FakeClock()
    script = Script(Outcome[str](Verdict.BUSY, Cause.NO_QUORUM, delay=1.5))
    _fail(script, fake, policy=POLICY, budget=4.0)
    assert [t.timeout for t in script.tries] == [2.0, 2.0, 1.0]  # none after sleeping to the deadline


def _reply(status: int, headers: dict[str, str] | None = None, body: bytes = b"") -> Response:
    return Response(status, headers or {}, body, "http://peer/x")


@given(st.integers(100, 599))
def test_every_status_has_one_meaning_and_one_verdict(status: int) -> None:
    outcome = classify(_reply(status), clock=FakeClock().clock())
    expected = {
        Meaning.SUCCESS: Verdict.DONE,
        Meaning.LATER: Verdict.TRANSIENT,
        Meaning.NEVER: Verdict.PERMANENT,
        Meaning.FAILED: Verdict.ATTEMPT,
        Meaning.HINT: Verdict.ATTEMPT,
        Meaning.UNEXPECTED: Verdict.ATTEMPT,
    }[meaning_of(status)]
    assert outcome.verdict is expected


def test_the_transient_statuses_are_the_issues_list() -> None:
    assert sorted(TRANSIENT_STATUSES) == [408, 425, 429, 502, 503, 504]
    assert meaning_of(409) is Meaning.NEVER and meaning_of(421) is Meaning.HINT and meaning_of(500) is Meaning.FAILED


def test_classify_reads_retry_after_as_date_and_quotes_a_rejection() -> None:
    fake = FakeClock()
    later = classify(_reply(503, {"retry-after": "Fri, 15 Jan 2027 08:00:30 GMT"}), clock=fake.clock())
    assert later.retry_after == pytest.approx(1_800_000_030 - WALL_EPOCH)
    never = classify(_reply(401, body=b'{"error": "token expired"}'), clock=fake.clock(), method="POST")
    assert never.verdict is Verdict.PERMANENT
    assert never.detail == 'HTTP 401 from POST http://peer/x: {"error": "token expired"}'


def test_an_http_date_retry_after_counts_from_the_answers_date_not_our_clock() -> None:
    """Break 10, G10: a peer 1 h ahead said "in 2 s" as a date; read against our clock it was
    3602 s, beyond every deadline, and the step ended at once."""
    fake = FakeClock()
    ahead = WALL_EPOCH + 3600
    headers = {"date": formatdate(ahead, usegmt=True), "retry-after": formatdate(ahead + 2, usegmt=True)}
    assert classify(_reply(503, headers), clock=fake.clock()).retry_after == 2.0
    no_date = {"retry-after": formatdate(ahead + 2, usegmt=True)}
    assert classify(_reply(503, no_date), clock=fake.clock()).retry_after == 3602.0  # our clock without one


def test_expected_statuses_are_done_others_follow_the_table() -> None:
    clock = FakeClock().clock()
    assert classify(_reply(409), clock=clock, expect=(201, 409)).verdict is Verdict.DONE
    assert classify(_reply(200), clock=clock, expect=(201,)).verdict is Verdict.ATTEMPT


def test_resets_are_transient_tls_setup_is_permanent() -> None:
    reset = TransportError("x", cause=Cause.CONNECTION_RESET)
    setup = TransportError("x", cause=Cause.TLS_SETUP)
    assert classify_error(reset).verdict is Verdict.TRANSIENT
    assert classify_error(setup).verdict is Verdict.PERMANENT


@pytest.fixture(autouse=True)
def _no_real_sleep(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every sleep goes through the fake clock; a real one fails the test."""

    def refuse(seconds: float) -> None:
        raise AssertionError(f"real sleep({seconds}) in a unit test")

    monkeypatch.setattr("time.sleep", refuse)
    yield


def test_every_transport_failure_is_either_not_sent_or_maybe_delivered() -> None:
    """Break 12, K10: a write whose request may have reached the peer must be counted as maybe
    taken; only a failure that proves the request never left is not. Every cause the HTTP layer
    raises sits in exactly one of the two sets (an answer over 1 MiB, a connection or TLS error
    mid-exchange were in neither, and an IAM create they answered was taken for "not created")."""
    from automation.spec.causes import MAYBE_DELIVERED, NOT_SENT

    raised = {
        Cause.UNUSABLE_URL, Cause.TLS_SETUP, Cause.TLS_VERIFICATION, Cause.TLS_ERROR, Cause.CONNECTION_REFUSED,
        Cause.CONNECTION_RESET, Cause.NAME_RESOLUTION, Cause.CONNECTION_ERROR, Cause.ANSWER_TOO_LARGE,
        Cause.RESOLVE_TIMEOUT, Cause.CONNECT_TIMEOUT, Cause.TLS_HANDSHAKE_TIMEOUT, Cause.SEND_TIMEOUT,
        Cause.HEADERS_TIMEOUT, Cause.BODY_TIMEOUT,
    }  # fmt: skip
    assert not MAYBE_DELIVERED & NOT_SENT
    assert raised <= MAYBE_DELIVERED | NOT_SENT
    assert {Cause.ANSWER_TOO_LARGE, Cause.CONNECTION_ERROR, Cause.TLS_ERROR, Cause.SEND_TIMEOUT} <= MAYBE_DELIVERED
