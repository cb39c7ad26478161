"""`fba wait-healthy`: poll a health URL until it answers 200, within a deadline."""

from __future__ import annotations

from dataclasses import dataclass

from automation.errors import HealthTimeout
from automation.http import HttpClient, TransportError
from automation.log import Logger
from automation.policy import Deadline, health_backoff
from automation.spec.config import HealthConfig


@dataclass(frozen=True)
class HealthResult:
    url: str
    attempts: int
    elapsed_s: float


def wait_healthy(url: str, *, http: HttpClient, cfg: HealthConfig, deadline: Deadline, log: Logger) -> HealthResult:
    """Return once `url` answers 2xx. Raises HealthTimeout naming the last answer seen."""
    backoff = health_backoff(cfg, deadline)
    last = "no answer yet"
    attempt = 0
    for attempt in range(1, 1_000_000):  # bounded by the deadline; the range only numbers attempts
        try:
            reply = http.request("GET", url, timeout=deadline.cap(cfg.request_timeout_s))
        except TransportError as err:
            last = err.cause
        else:
            if reply.ok:
                log.info(
                    "Service healthy",
                    url=url,
                    attempt=attempt,
                    http_code=reply.status,
                    elapsed_s=round(deadline.elapsed(), 3),
                )
                return HealthResult(url, attempt, deadline.elapsed())
            last = f"HTTP {reply.status} {reply.excerpt(80)}".strip()
        if backoff.should_stop(attempt):
            break
        log.debug("Not healthy yet", url=url, attempt=attempt, last=last)
        deadline.sleep(backoff.delay(attempt))
    log.error(
        "Health check timeout",
        url=url,
        attempt=attempt,
        elapsed_s=round(deadline.elapsed(), 3),
        budget_s=deadline.budget_s,
        last=last,
        cause="health check timeout",
    )
    raise HealthTimeout(
        f"Health check timeout: {url} not healthy after {deadline.elapsed():.1f}s of {deadline.budget_s:g}s, "
        f"{attempt} attempts; last: {last}",
        cause="health check timeout",
    )
