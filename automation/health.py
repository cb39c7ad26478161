"""`fba wait-healthy`: poll a health URL until it answers 2xx, within a deadline.

Every request, whole (connect, TLS, headers, body), gets at most the time left, so a peer that
trickles its answer cannot stretch the wait past its budget plus one request. Answers follow
the shared table (automation.spec.http_status): "later" answers are polled again no sooner than
their `Retry-After`; a 4xx that means "never" (a wrong health path: 404) ends the wait at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from automation.errors import HealthTimeout, StepFailed
from automation.http import HttpClient, Response
from automation.log import Logger
from automation.policy import Deadline, health_policy
from automation.retry import GiveUp, Outcome, Try, Verdict, fetch, run
from automation.spec.causes import Cause
from automation.spec.config import HealthConfig


@dataclass(frozen=True)
class HealthResult:
    url: str
    attempts: int
    elapsed_s: float


def wait_healthy(url: str, *, http: HttpClient, cfg: HealthConfig, deadline: Deadline, log: Logger) -> HealthResult:
    """Return once `url` answers 2xx.

    Raises:
        HealthTimeout: the deadline passed (cause "health check timeout"; the message and
            `last_cause` name the last answer or the phase that timed out) or the answer
            means "never" (cause "rejected", the answer quoted).
    """
    requests = 0

    def step(t: Try) -> Outcome[Response]:
        nonlocal requests
        requests = t.number
        outcome = fetch(http, "GET", url, t, clock=deadline.clock)
        if outcome.verdict is not Verdict.DONE:
            log.debug("Not healthy yet", url=url, attempt=t.number, last=outcome.said)
        return outcome

    def give_up(gave_up: GiveUp) -> StepFailed:
        if gave_up.permanent:
            message = f"Health check failed: {url} answered {gave_up.said}"
            log.error(message, url=url, **gave_up.context())
            failure = HealthTimeout(message, cause=gave_up.cause)
        else:
            log.error(
                "Health check timeout",
                url=url,
                **{**gave_up.context(), "cause": Cause.HEALTH_TIMEOUT.value},
                last_cause=gave_up.cause.value,
                last=gave_up.said,
            )
            failure = HealthTimeout(
                f"Health check timeout: {url} not healthy after {gave_up.elapsed_s:.1f}s of {gave_up.budget_s:g}s, "
                f"{gave_up.requests} attempts; last: {gave_up.said}",
                cause=Cause.HEALTH_TIMEOUT,
            )
        return failure

    reply = run(step, policy=health_policy(cfg), deadline=deadline, log=log, what="Health check", on_give_up=give_up)
    log.info(
        "Service healthy", url=url, attempt=requests, http_code=reply.status, elapsed_s=round(deadline.elapsed(), 3)
    )
    return HealthResult(url, requests, deadline.elapsed())
