"""What an HTTP status means to `fba`, as data: one table for every command.

Every command that makes requests (join, leave, iam-setup, wait-healthy, health-report and its
notify, preflight) classifies answers through `meaning_of`, so a 429 means the same everywhere.
A command names the few answers its own contract gives a meaning first (join: 409 "already a
member"; leave: 404 "not a member"; iam-setup: 409 "created elsewhere"); everything else falls
to this table. The README's table is rendered from `STATUS_RULES`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Meaning(StrEnum):
    SUCCESS = "success"  # done, unless the command expects a particular 2xx
    HINT = "hint"  # a redirect or "not the leader": a candidate to check, never a verdict
    LATER = "later"  # transient: retried within the deadline, Retry-After honoured
    NEVER = "never"  # permanent: the step ends now, quoting the answer
    FAILED = "failed"  # a server error: retried, using up one of the attempts
    UNEXPECTED = "unexpected"  # informational or unknown: retried, using up an attempt


@dataclass(frozen=True)
class StatusRule:
    codes: tuple[int, ...] | range
    meaning: Meaning
    why: str

    def label(self) -> str:
        if isinstance(self.codes, range):
            return f"{self.codes.start}-{self.codes.stop - 1}"
        return ", ".join(str(c) for c in self.codes)


# First match wins: specific codes before the ranges they sit in.
STATUS_RULES: tuple[StatusRule, ...] = (
    StatusRule(
        (408, 425, 429, 502, 503, 504),
        Meaning.LATER,
        "request timeout, too early, rate limited, bad gateway, unavailable, gateway timeout: the peer "
        "or a proxy asks us to come back; retried no sooner than `Retry-After` (seconds or HTTP date); one longer "
        "than the time left ends the step at once, naming it",
    ),
    StatusRule(
        (301, 302, 307, 308, 421),
        Meaning.HINT,
        "a follower points at its leader; join and leave re-check the hint as a candidate, others treat it "
        "as an attempt that failed (redirects are never followed blindly)",
    ),
    StatusRule(range(200, 300), Meaning.SUCCESS, "done (a command may expect a particular 2xx)"),
    StatusRule(
        range(400, 500),
        Meaning.NEVER,
        "the request is wrong for this peer (400, 401, 403, 404, 405, 422, ...): retrying cannot help, the "
        "step ends with the answer in its message; the command's own contract comes first (409, leave's 404)",
    ),
    StatusRule(range(500, 600), Meaning.FAILED, "server error (500, 501, 505, ...): retried, using up an attempt"),
    StatusRule(
        range(100, 200),
        Meaning.UNEXPECTED,
        "interim answers (100, 102, 103 Early Hints, ...) are skipped and the final answer read, within the "
        "request's deadline (RFC 9110, 15.2); only a 101 ends a request (fba never asks for an upgrade): an "
        "attempt failed",
    ),
    StatusRule(range(300, 400), Meaning.UNEXPECTED, "other redirects: an attempt failed"),
)

TRANSIENT_STATUSES = frozenset(c for rule in STATUS_RULES if rule.meaning is Meaning.LATER for c in rule.codes)


def meaning_of(status: int) -> Meaning:
    for rule in STATUS_RULES:
        if status in rule.codes:
            return rule.meaning
    return Meaning.UNEXPECTED


def status_table_markdown() -> str:
    """The README's table of HTTP statuses, rendered from `STATUS_RULES`."""
    lines = ["| status | means | what fba does |", "|---|---|---|"]
    lines += [f"| {rule.label()} | {rule.meaning.value} | {rule.why} |" for rule in STATUS_RULES]
    return "\n".join(lines) + "\n"
