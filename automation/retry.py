"""The one request/retry engine every command uses: try, classify, stop or wait, try again.

A step is a function from `Try` (which request this is, and the time it may take) to an
`Outcome`: done, or a `Verdict` saying what kind of "not yet" it is:

    ATTEMPT    a failure; uses up one of the policy's attempts
    HOP        go to another candidate now (leader hint, verification read); free, but more
               than `max_free_hops` in a row count as an attempt
    BUSY       the peer is fine but the cluster says wait (no quorum, change in flight); free,
               bounded by the deadline only
    TRANSIENT  the answer means "later" (408/425/429/502/503/504, connection reset); free,
               bounded by the deadline; `Retry-After` is honoured
    PERMANENT  the answer means "never"; the step ends now

`run` drives it with tenacity's `Retrying` (its real retry state, our stop and wait), sleeping
through the step's `Deadline`: never past it, never less than `Retry-After`. A peer that asks
to wait longer than the time left ends the step at once, instead of sleeping to the deadline
for nothing. When it gives up, one ERROR line names the cause, what was seen and the counts,
and the `StepFailed` it raises chains the last underlying error.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Generic, TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception_type
from tenacity.stop import stop_base
from tenacity.wait import wait_base

from automation.errors import StepFailed
from automation.http import HttpClient, Response, TransportError
from automation.log import Logger
from automation.policy import MIN_DELAY_S, REQUEST_BACKSTOP, Clock, Deadline, RetryPolicy, parse_retry_after
from automation.spec.causes import Cause
from automation.spec.http_status import Meaning, meaning_of

T = TypeVar("T")


class Verdict(StrEnum):
    DONE = "done"
    ATTEMPT = "attempt"
    HOP = "hop"
    BUSY = "busy"
    TRANSIENT = "transient"
    PERMANENT = "permanent"


@dataclass(frozen=True)
class Outcome(Generic[T]):
    verdict: Verdict
    cause: Cause = Cause.NOT_ATTEMPTED
    detail: str = ""  # what was seen: method, URL, status, body excerpt or transport error
    value: T | None = None
    retry_after: float | None = None  # seconds the peer asked for
    delay: float | None = None  # the step's own choice (0: hop at once); None: the policy's wait
    http_code: int | None = None
    error: BaseException | None = None  # chained into the final StepFailed

    def failure(self) -> Outcome[Any]:
        """This "not done" outcome for a step of another value type (it carries no value)."""
        return replace(self, value=None)

    @property
    def said(self) -> str:
        return f"{self.cause.value} ({self.detail})" if self.detail else self.cause.value


def done(value: T) -> Outcome[T]:
    return Outcome(Verdict.DONE, value=value)


@dataclass(frozen=True)
class Try:
    number: int  # requests made so far, this one included
    attempt: int  # attempts used up so far + 1
    timeout: float  # for this request: min(the policy's request timeout, time left)


class _Again(Exception):
    def __init__(self, outcome: Outcome[Any]) -> None:
        super().__init__(outcome.said)
        self.outcome = outcome


class _Tally:
    """Counts of one run; updated once per try, read by the stop and wait strategies."""

    def __init__(self, policy: RetryPolicy, deadline: Deadline) -> None:
        self.policy = policy
        self.deadline = deadline
        self.requests = 0
        self.attempts = 0
        self.hops = 0
        self.charged = False  # the last outcome used up an attempt
        self.beyond: float | None = None  # a Retry-After longer than the time left

    def record(self, outcome: Outcome[Any]) -> None:
        self.requests += 1
        verdict = outcome.verdict
        self.charged = verdict is Verdict.ATTEMPT or (verdict is Verdict.HOP and self.hops >= self.policy.max_free_hops)
        if self.charged:
            self.attempts += 1
            self.hops = 0
        elif verdict is Verdict.HOP:
            self.hops += 1
        else:
            self.hops = 0

    def should_stop(self, outcome: Outcome[Any]) -> bool:
        if outcome.verdict is Verdict.PERMANENT or self.deadline.expired():
            return True
        if self.attempts >= self.policy.max_attempts or self.requests >= REQUEST_BACKSTOP:
            return True
        if outcome.retry_after is not None and outcome.retry_after > self.deadline.remaining():
            self.beyond = outcome.retry_after
            return True
        return False

    def delay(self, outcome: Outcome[Any], state: RetryCallState) -> float:
        """Seconds before the next try: the step's own `delay` if it chose one; none for a free
        hop (a hint is followed at once: before, it waited the backoff of every try so far, up to
        16 s a hop, and a failover took minutes); the backoff of the attempts used up, not of the
        tries, after an attempt; the policy's wait (by tries) for "later" and "busy"."""
        if outcome.delay is not None:
            seconds = outcome.delay
        elif outcome.verdict is Verdict.HOP and not self.charged:
            seconds = 0.0
        elif self.charged:
            seconds = self.policy.backoff(self.attempts)
        else:
            seconds = float(self.policy.wait(state))
        if outcome.retry_after is not None:
            seconds = max(seconds, outcome.retry_after)
        if outcome.verdict is not Verdict.HOP:
            seconds = max(seconds, MIN_DELAY_S)
        return min(seconds, self.deadline.remaining())


def _outcome_of(state: RetryCallState) -> Outcome[Any]:
    failed = state.outcome.exception() if state.outcome is not None else None
    if isinstance(failed, _Again):
        return failed.outcome
    return Outcome(Verdict.PERMANENT, Cause.INTERNAL, detail=repr(failed))


class _Stop(stop_base):
    def __init__(self, tally: _Tally) -> None:
        self.tally = tally

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self.tally.should_stop(_outcome_of(retry_state))


class _Wait(wait_base):
    def __init__(self, tally: _Tally) -> None:
        self.tally = tally

    def __call__(self, retry_state: RetryCallState) -> float:
        return self.tally.delay(_outcome_of(retry_state), retry_state)


@dataclass(frozen=True)
class GiveUp:
    """Why and when a run gave up: what the final log line and error say."""

    cause: Cause  # the last outcome's, or RETRY_AFTER_BEYOND_DEADLINE
    said: str  # cause and what was seen, for messages
    last: Outcome[Any]
    attempts: int
    requests: int
    elapsed_s: float
    budget_s: float
    permanent: bool

    def context(self) -> dict[str, Any]:
        """Fields for the final log line."""
        return {
            "cause": self.cause.value,
            "detail": self.last.detail or None,
            "http_code": self.last.http_code,
            "attempt": self.attempts,
            "requests": self.requests,
            "elapsed_s": round(self.elapsed_s, 3),
            "budget_s": self.budget_s,
        }


def run(
    step: Callable[[Try], Outcome[T]],
    *,
    policy: RetryPolicy,
    deadline: Deadline,
    log: Logger,
    what: str,
    failure: type[StepFailed] = StepFailed,
    on_give_up: Callable[[GiveUp], StepFailed] | None = None,
) -> T:
    """Call `step` until it is done, then return its value.

    Example: `run(lambda t: fetch(http, "GET", url, t, clock=clock), policy=join_policy(cfg),
    deadline=Deadline.start(300), log=log, what="Leave")`

    Raises:
        StepFailed (or `failure`): the step's outcome was permanent, its attempts were used up,
            its deadline passed, or a peer asked to wait beyond the deadline. By default one ERROR
            line "`what` failed ...: cause (detail)" is logged first and `logged` is set;
            `on_give_up` instead makes (and logs, if it likes) the error to raise.
    """
    tally = _Tally(policy, deadline)

    def before_sleep(state: RetryCallState) -> None:
        outcome = _outcome_of(state)
        if outcome.verdict is Verdict.TRANSIENT:
            log.info(
                f"Waiting: {outcome.said}; retrying in {state.upcoming_sleep:.1f}s",
                cause=outcome.cause.value,
                http_code=outcome.http_code,
                retry_after_s=outcome.retry_after,
                elapsed_s=round(deadline.elapsed(), 3),
            )

    retrying = Retrying(
        stop=_Stop(tally),
        wait=_Wait(tally),
        retry=retry_if_exception_type(_Again),
        sleep=deadline.clock.sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
    try:
        last: Outcome[Any] | None = None
        for attempt in retrying:
            with attempt:
                if last is not None and deadline.expired():
                    raise _Again(last)  # slept up to the deadline: no request that would overrun it
                outcome = step(Try(tally.requests + 1, tally.attempts + 1, deadline.cap(policy.request_timeout_s)))
                last = outcome
                if outcome.verdict is Verdict.DONE:
                    return outcome.value  # type: ignore[return-value]  # DONE carries the step's value
                tally.record(outcome)
                raise _Again(outcome) from outcome.error
    except _Again as again:
        gave_up = _gave_up(again.outcome, tally)
        if on_give_up is not None:
            error = on_give_up(gave_up)
        else:
            error = _default_failure(gave_up, log, what, failure)
        raise error from (again.outcome.error or again)
    raise AssertionError("unreachable: tenacity ends with a value or re-raises")  # pragma: no cover


def _gave_up(last: Outcome[Any], tally: _Tally) -> GiveUp:
    deadline = tally.deadline
    cause, said = last.cause, last.said
    permanent = last.verdict is Verdict.PERMANENT
    if tally.beyond is not None and not permanent:
        cause = Cause.RETRY_AFTER_BEYOND_DEADLINE
        said = f"{cause.value}: asked to wait {tally.beyond:.0f}s with {deadline.remaining():.1f}s left ({last.said})"
    return GiveUp(cause, said, last, tally.attempts, tally.requests, deadline.elapsed(), deadline.budget_s, permanent)


def _default_failure(gave_up: GiveUp, log: Logger, what: str, failure: type[StepFailed]) -> StepFailed:
    if gave_up.permanent:
        message = f"{what} failed: {gave_up.said}"
    else:
        message = (
            f"{what} failed after {gave_up.attempts} attempts in {gave_up.elapsed_s:.1f}s "
            f"(budget {gave_up.budget_s:g}s, {gave_up.requests} requests): {gave_up.said}"
        )
    log.error(message, **gave_up.context())
    error = failure(message, cause=gave_up.cause)
    error.logged = True
    return error


# Classifying answers: the one table (automation.spec.http_status) for every command.


def classify(reply: Response, *, clock: Clock, expect: Collection[int] = (), method: str = "") -> Outcome[Response]:
    """DONE for an expected status (any 2xx when `expect` is empty), else the table's verdict."""
    if reply.status in expect or (not expect and reply.ok):
        return done(reply)
    where = f"HTTP {reply.status} from {method + ' ' if method else ''}{reply.url}"
    detail = f"{where}: {reply.excerpt(200)}" if reply.body else where
    meaning = meaning_of(reply.status)
    if meaning is Meaning.LATER:
        after = parse_retry_after(
            reply.headers.get("retry-after"), now_wall=clock.wall(), date=reply.headers.get("date")
        )
        return Outcome(
            Verdict.TRANSIENT, Cause.TRY_LATER, detail, value=reply, retry_after=after, http_code=reply.status
        )
    if meaning is Meaning.NEVER:
        return Outcome(Verdict.PERMANENT, Cause.REJECTED, detail, value=reply, http_code=reply.status)
    if meaning is Meaning.FAILED:
        return Outcome(Verdict.ATTEMPT, Cause.SERVER_ERROR, detail, value=reply, http_code=reply.status)
    return Outcome(Verdict.ATTEMPT, Cause.UNEXPECTED_ANSWER, detail, value=reply, http_code=reply.status)


def classify_error(err: TransportError) -> Outcome[Response]:
    """A reset means "later"; our own TLS set-up never heals; the rest use up an attempt."""
    if err.cause is Cause.CONNECTION_RESET:
        verdict = Verdict.TRANSIENT
    elif err.cause is Cause.TLS_SETUP:
        verdict = Verdict.PERMANENT
    else:
        verdict = Verdict.ATTEMPT
    return Outcome(verdict, err.cause, str(err), error=err)


def fetch(
    http: HttpClient,
    method: str,
    url: str,
    t: Try,
    *,
    clock: Clock,
    expect: Collection[int] = (),
    body: Any = None,
    headers: Mapping[str, str] | None = None,
) -> Outcome[Response]:
    """One request, classified: the step function most commands need."""
    try:
        reply = http.request(method, url, timeout=t.timeout, body=body, headers=headers)
    except TransportError as err:
        return classify_error(err)
    return classify(reply, clock=clock, expect=expect, method=method)
