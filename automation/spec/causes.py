"""Why a step gave up, as data: the `cause` of a failed step's last log line.

Every `StepFailed` and every `TransportError` carries one `Cause`; the log line adds the
details (URL, HTTP status, the answer's body excerpt, the phase that timed out). The README's
table of causes is rendered from `CAUSES`, like the exit codes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Cause(StrEnum):
    # No HTTP answer (automation.http.TransportError).
    CONNECTION_REFUSED = "connection refused"
    CONNECTION_RESET = "connection reset"
    CONNECTION_ERROR = "connection error"
    NAME_RESOLUTION = "name resolution failed"
    RESOLVE_TIMEOUT = "name resolution timed out"
    CONNECT_TIMEOUT = "connect timed out"
    TLS_HANDSHAKE_TIMEOUT = "TLS handshake timed out"
    SEND_TIMEOUT = "send timed out"
    HEADERS_TIMEOUT = "headers timed out"
    BODY_TIMEOUT = "body timed out"
    TLS_VERIFICATION = "TLS verification failed"
    TLS_ERROR = "TLS error"
    TLS_SETUP = "TLS set-up failed"
    ANSWER_TOO_LARGE = "answer too large"
    UNUSABLE_URL = "unusable URL"
    # An HTTP answer that ends or delays the step (automation.spec.http_status).
    TRY_LATER = "asked to retry later"
    RETRY_AFTER_BEYOND_DEADLINE = "Retry-After beyond the deadline"
    REJECTED = "rejected"
    SERVER_ERROR = "server error"
    UNEXPECTED_ANSWER = "unexpected answer"
    BAD_RESPONSE = "bad response"
    # Cluster states and step preconditions.
    NOT_LEADER = "not the leader"
    LEADER_IS_US = "this node is the leader"
    NO_QUORUM = "no quorum"
    NO_LEADER = "no leader"
    LISTED_NOT_COMMITTED = "listed but not committed"
    FOREIGN_MEMBER_LIST = "another service's member list"
    CANDIDATES_SET_ASIDE = "every candidate set aside"
    REMOVAL_NOT_CONFIRMED = "removal not confirmed"
    CHANGE_IN_FLIGHT = "membership change in flight"
    MEMBERSHIP_CONFLICT = "membership conflict"
    OWN_SERVICE_IN_ANOTHER_CLUSTER = "own service in another cluster"
    CLUSTER_EXISTS = "cluster already exists"
    VERIFYING = "verifying membership"
    UNREADABLE_MEMBER_LIST = "unreadable member list"
    HEALTH_TIMEOUT = "health check timeout"
    PREREQUISITE_MISSING = "prerequisite not joined yet"
    NOT_ATTEMPTED = "no attempt made"
    # This node's own state.
    STATE_NOT_WRITTEN = "state not written"
    STEP_BUSY = "another run holds the step"
    # The CLI's own.
    INVALID_CONFIGURATION = "invalid configuration"
    INTERNAL = "internal error"


# No whole answer came: the request itself failed (one phase's timeout, a refused, reset or
# failed connection, name resolution). Checks that expect "the peer could not be reached"
# compare against this set, not against cause texts copied into them.
TRANSPORT = frozenset(
    {
        Cause.CONNECTION_REFUSED,
        Cause.CONNECTION_RESET,
        Cause.CONNECTION_ERROR,
        Cause.NAME_RESOLUTION,
        Cause.RESOLVE_TIMEOUT,
        Cause.CONNECT_TIMEOUT,
        Cause.TLS_HANDSHAKE_TIMEOUT,
        Cause.SEND_TIMEOUT,
        Cause.HEADERS_TIMEOUT,
        Cause.BODY_TIMEOUT,
    }
)
# The request never reached the peer: nothing it asked for can have taken effect. Only these
# failures prove it (no connection, no verified TLS session, nothing to ask).
NOT_SENT = frozenset(
    {
        Cause.CONNECTION_REFUSED,
        Cause.NAME_RESOLUTION,
        Cause.RESOLVE_TIMEOUT,
        Cause.CONNECT_TIMEOUT,
        Cause.TLS_HANDSHAKE_TIMEOUT,
        Cause.TLS_VERIFICATION,
        Cause.TLS_SETUP,
        Cause.UNUSABLE_URL,
        Cause.NOT_ATTEMPTED,
    }
)
# A request that failed without a whole, readable answer after it may have left: a write whose
# answer was lost may have committed. Every transport failure not proven `NOT_SENT`: a timeout
# or reset after sending, a failed send (part of it may have left), an unparseable answer or a
# TLS alert mid-exchange (`connection error`, `TLS error`), an answer over 1 MiB (it came, so
# the request was read). Only timeouts and resets counted (break 11, H4): an IAM's 201 over
# 1 MiB was "not created", and the password it held was erased (break 12, K10).
MAYBE_DELIVERED = frozenset(
    {
        Cause.CONNECTION_RESET,
        Cause.CONNECTION_ERROR,
        Cause.SEND_TIMEOUT,
        Cause.HEADERS_TIMEOUT,
        Cause.BODY_TIMEOUT,
        Cause.TLS_ERROR,
        Cause.ANSWER_TOO_LARGE,
    }
)


@dataclass(frozen=True)
class CauseMeaning:
    cause: Cause
    retried: str  # "yes", "no", "until the deadline"
    meaning: str


CAUSES: tuple[CauseMeaning, ...] = (
    CauseMeaning(Cause.CONNECTION_REFUSED, "yes, uses an attempt", "nothing listens on the peer's port"),
    CauseMeaning(Cause.CONNECTION_RESET, "until the deadline", "the peer closed the connection mid-request"),
    CauseMeaning(Cause.CONNECTION_ERROR, "yes, uses an attempt", "another socket or HTTP protocol error"),
    CauseMeaning(Cause.NAME_RESOLUTION, "yes, uses an attempt", "the host name did not resolve (re-resolved each try)"),
    CauseMeaning(
        Cause.RESOLVE_TIMEOUT, "yes, uses an attempt", "the resolver did not answer within the request's time"
    ),
    CauseMeaning(Cause.CONNECT_TIMEOUT, "yes, uses an attempt", "no TCP connection within the request's time"),
    CauseMeaning(
        Cause.TLS_HANDSHAKE_TIMEOUT, "yes, uses an attempt", "connected, but the TLS handshake did not finish"
    ),
    CauseMeaning(Cause.SEND_TIMEOUT, "yes, uses an attempt", "the request could not be sent in time"),
    CauseMeaning(
        Cause.HEADERS_TIMEOUT, "yes, uses an attempt", "sent, but the status line and headers did not arrive in time"
    ),
    CauseMeaning(
        Cause.BODY_TIMEOUT,
        "yes, uses an attempt",
        "headers arrived, the whole body did not (a trickling peer): one deadline covers all phases",
    ),
    CauseMeaning(Cause.TLS_VERIFICATION, "yes, uses an attempt", "the peer's certificate is not signed by our CA"),
    CauseMeaning(Cause.TLS_ERROR, "yes, uses an attempt", "another TLS failure (protocol, alert)"),
    CauseMeaning(
        Cause.TLS_SETUP,
        "by systemd",
        "our CA, certificate or key file does not exist (yet); one that exists but cannot be loaded (not PEM, "
        "a key that does not match, unreadable, not a regular file) is `invalid configuration`, exit 3",
    ),
    CauseMeaning(Cause.ANSWER_TOO_LARGE, "yes, uses an attempt", "the answer's body exceeds 1 MiB"),
    CauseMeaning(
        Cause.UNUSABLE_URL,
        "yes, uses an attempt",
        "a URL that cannot be asked (bad port or IPv6 address, not http(s), credentials in it, a `%` in the "
        "host: an IPv6 zone id such as `[fe80::1%25eth0]`, not supported, a host name that cannot be looked "
        "up: a label over 63 characters or empty, `a..b`); a hint naming one is set aside",
    ),
    CauseMeaning(
        Cause.TRY_LATER,
        "until the deadline",
        "HTTP 408, 425, 429, 502, 503 or 504: the peer asks to come back later (Retry-After honoured)",
    ),
    CauseMeaning(
        Cause.RETRY_AFTER_BEYOND_DEADLINE,
        "no",
        "the peer asked to wait longer than the time left; the step ends now instead of sleeping to its deadline",
    ),
    CauseMeaning(Cause.REJECTED, "no", "an HTTP 4xx that means never (400, 401, 403, 404, ...); the message quotes it"),
    CauseMeaning(Cause.SERVER_ERROR, "yes, uses an attempt", "HTTP 500, 501, 505 and other 5xx not listed as later"),
    CauseMeaning(Cause.UNEXPECTED_ANSWER, "yes, uses an attempt", "a status the command does not expect (1xx, 3xx)"),
    CauseMeaning(
        Cause.BAD_RESPONSE,
        "no; a member list: yes, uses an attempt",
        "a 2xx whose body lacks what the contract promises (a member list with members that are not member "
        "objects, or a `service`, `leader` or flag such as `has_quorum` of the wrong type: its candidate is set "
        "aside; an IAM admin list that is not a list of users; a node token whose `expires_at` is there but not "
        "a time, or already past on the IAM's own clock: its answer's `Date`, ours only without one)",
    ),
    CauseMeaning(Cause.NOT_LEADER, "yes, a free hop", "a follower named another leader (307/421, `leader`)"),
    CauseMeaning(
        Cause.LEADER_IS_US,
        "no",
        "`leave`: a peer names this node's own API as the leader (its member list, or a 307/421 to the DELETE); "
        "fba never asks its own API, and a leader cannot remove itself: move leadership to another member first "
        "(for `--member`, run the leave on another member)",
    ),
    CauseMeaning(Cause.NO_QUORUM, "until the deadline", "the leader reports no quorum; no member is added"),
    CauseMeaning(Cause.NO_LEADER, "until the deadline", "a candidate reports no leader (an election); it is set aside"),
    CauseMeaning(
        Cause.LISTED_NOT_COMMITTED,
        "until the deadline",
        "we are listed, but without quorum, with a change in flight, uncommitted or as a learner",
    ),
    CauseMeaning(
        Cause.FOREIGN_MEMBER_LIST,
        "yes, uses an attempt",
        "a candidate answered a member list of another service, or of another cluster (its `cluster` is not our "
        "`cluster_name`; or, unnamed, it shares no member with our cluster's lists)",
    ),
    CauseMeaning(
        Cause.CANDIDATES_SET_ASIDE, "no", "the deadline ended while every candidate was set aside after failing"
    ),
    CauseMeaning(
        Cause.REMOVAL_NOT_CONFIRMED,
        "until the deadline",
        "`leave`: the leader's member list still shows the member, is unsettled or was not read (also after a "
        '404 "not a member"); the markers are put back when every DELETE was refused, else left aside '
        "(`<marker>.leaving`, not trusted: the next join re-reads the leader's list)",
    ),
    CauseMeaning(Cause.CHANGE_IN_FLIGHT, "until the deadline", "another membership change is in flight"),
    CauseMeaning(
        Cause.OWN_SERVICE_IN_ANOTHER_CLUSTER,
        "no",
        "this node's own service already follows a leader the cluster's leader does not list, or leads a "
        "cluster of its own beside one that lists this node (it formed a cluster of its own, e.g. started as a "
        "bootstrap node, or re-imaged): no member is added, no bootstrap marker written (exit 3); wipe its data "
        "and start it in join mode",
    ),
    CauseMeaning(
        Cause.CLUSTER_EXISTS,
        "no",
        "a `bootstrap: true` node: its `leader_url` or another configured peer answers a member list of this "
        "service that does not list this node (a cluster is already up there); no cluster is formed, no marker "
        "written (exit 3). Peers that do not answer, or answer no list or an empty one, veto nothing",
    ),
    CauseMeaning(
        Cause.MEMBERSHIP_CONFLICT,
        "no",
        "our id or Raft address is listed with other values, or our id is listed more than once",
    ),
    CauseMeaning(
        Cause.VERIFYING,
        "until the deadline",
        "an add was accepted, but the member list does not show it: read again with the join's backoff, the add "
        "sent again at most once per attempt",
    ),
    CauseMeaning(Cause.UNREADABLE_MEMBER_LIST, "yes, uses an attempt", "a 200 that is not a member list"),
    CauseMeaning(Cause.HEALTH_TIMEOUT, "no", "the service never answered healthy within its budget"),
    CauseMeaning(
        Cause.PREREQUISITE_MISSING,
        "by systemd",
        (
            "`--require-joined`: the other service's marker is missing, or names another node (or nobody) and "
            "that service's leader refutes it (it is then set aside as `<marker>.foreign`), or names another node "
            "and no leader of that service answers"
        ),
    ),
    CauseMeaning(Cause.NOT_ATTEMPTED, "no", "the deadline ended before the first request"),
    CauseMeaning(
        Cause.STATE_NOT_WRITTEN,
        "by systemd",
        "a marker, the IAM credentials file, the state directory or a provisioned secret could not be written "
        "(disk full, read-only, a directory in the way), or the credentials file holds an admin password this "
        "run does not know; what was there is kept",
    ),
    CauseMeaning(
        Cause.STEP_BUSY,
        "by systemd",
        "another `fba` run of the same step on this node (the unit and an operator) held the step's lock "
        "until the deadline; nothing was read or changed",
    ),
    CauseMeaning(Cause.INVALID_CONFIGURATION, "no", "the configuration or arguments are invalid (exit 3)"),
    CauseMeaning(Cause.INTERNAL, "no", "a bug in fba (exit 70)"),
)


def causes_markdown() -> str:
    """The README's table of causes, rendered from `CAUSES`."""
    lines = ["| cause | retried | meaning |", "|---|---|---|"]
    lines += [f"| `{row.cause.value}` | {row.retried} | {row.meaning} |" for row in CAUSES]
    return "\n".join(lines) + "\n"
