"""`fba leave`: the design's rollback. DELETE the member on the leader, read the leader's list
until it proves the member gone (`automation.removal`), then drop the marker.

`--member ID` removes another member (one that was added but never came up, as
`fba health-report` flags); the local markers are only touched when removing ourselves.
Requests go through the shared engine: a leader hint is a free hop, "later" answers wait
(Retry-After honoured), a 4xx that means "never" ends the leave quoting the answer. 404 is
the contract's "not a member", but a proxy or a lagging node answers 404 too: like a 200, it
is a claim that the leader's list must confirm before any marker goes (exit 2 then).
"""

from __future__ import annotations

from urllib.parse import quote

from automation.context import Context
from automation.discovery import LeaderFinder, leader_hint, leaderless
from automation.errors import FbaError, UsageError
from automation.http import Response, TransportError
from automation.log import Logger
from automation.policy import Deadline, join_policy
from automation.removal import confirm_removed
from automation.retry import Outcome, Try, Verdict, classify, classify_error, done, run
from automation.spec.causes import Cause
from automation.spec.exitcodes import ExitCode
from automation.spec.markers import Service, Step, is_node_id, marker_name
from automation.steplock import step_lock


def run_leave(ctx: Context, service: Service, member: str | None) -> ExitCode:
    target = ctx.config.node_id if member is None else member
    if not is_node_id(target):
        # The CLI checks --member already; this is the backstop for any other caller: an empty
        # id removed THIS node (DELETE .../member/), `node01#x` removed node01.
        raise UsageError(f"fba leave: not a node id: {target!a}")
    log = ctx.log.bind(service=service.value, operation="leave")
    cfg = ctx.config.join
    deadline = Deadline.start(cfg.deadline_s, ctx.clock)
    # The service's lock, as its join takes: a leave must not drop the marker a join is about to
    # write, nor a join write one a leave is dropping (automation.steplock).
    try:
        with step_lock(ctx.markers, service, deadline, log):
            return _run_leave_locked(ctx, service, target, deadline, log)
    except FbaError as err:
        log.failure(err)  # with this service and operation (`Logger.failure`)
        raise


def _run_leave_locked(ctx: Context, service: Service, target: str, deadline: Deadline, log: Logger) -> ExitCode:
    cfg = ctx.config.join
    if target == ctx.config.node_id:
        # Leaving ourselves ends by dropping our markers: the state dir is proven writable (and
        # no directory stands in a marker's place) before the DELETE, not found read-only after
        # the member is gone and the markers still say "joined".
        warning = ctx.markers.ensure_directory(*_marker_names(service))
        if warning:
            log.warn(warning)
    finder = LeaderFinder(ctx.config, service, log, ctx.clock)
    # Percent-encoded although the pattern allows only URL-safe characters: a value put into a
    # URL path is encoded where it is put, not trusted to have been checked elsewhere.
    segment = quote(target, safe="")

    last: list[Outcome[Response]] = []

    def step(t: Try) -> Outcome[Response]:
        url = finder.take(deadline, may_end=bool(last))
        if url is None:  # nobody can be asked before the deadline: the last answer says why
            return last[-1] if last else Outcome(Verdict.BUSY, Cause.CANDIDATES_SET_ASIDE, "every candidate")
        outcome = _delete(url, t)
        if outcome.verdict is not Verdict.HOP:
            finder.end_chain()
        last.append(outcome)
        return outcome

    def _delete(url: str, t: Try) -> Outcome[Response]:
        try:
            reply = ctx.http.request("DELETE", f"{url}/admin/member/{segment}", timeout=deadline.cap(t.timeout))
        except TransportError as err:
            finder.forget()
            log.error(
                "Leave request failed: connection error", cause=err.cause.value, leader_url=url, attempt=t.attempt
            )
            return classify_error(err)
        hint = leader_hint(reply) if reply.status in (307, 308, 421) else None
        # A hint the finder refuses (this node's own API, another service's port) is no hop:
        # hopping anyway asked the same peer again, and the DELETE never reached a leader.
        if hint and not finder.same_peer(finder.normalise(hint), url) and finder.learn(hint):
            return Outcome(Verdict.HOP, Cause.NOT_LEADER, f"{url} named {hint}", http_code=reply.status)
        claim = _not_a_member(reply)
        if claim is not None:
            took.append(url)
            claims.append(claim)
            return done(reply)
        no_leader = leaderless(reply)
        if no_leader is not None:
            # A leader stepping down ("no leader", maybe a long Retry-After): that peer waits its
            # Retry-After, the leave does not; the new leader is elsewhere (as for the join's add).
            log.warn(f"Waiting: {url} answered the DELETE with {no_leader.value}; trying the other candidates",
                     leader_url=url, http_code=reply.status)  # fmt: skip
            finder.set_aside(url, no_leader.value, base_s=cfg.retry_delay_s, cap_s=cfg.max_retry_delay_s, reply=reply)
            return Outcome(Verdict.BUSY, no_leader, f"HTTP {reply.status} from DELETE {reply.url}", delay=0,
                           http_code=reply.status)  # fmt: skip
        outcome = classify(reply, clock=ctx.clock, method="DELETE")
        if outcome.verdict is Verdict.DONE:
            took.append(url)
        elif outcome.verdict is not Verdict.TRANSIENT:  # "later" is logged by the engine as a wait
            log.error("Leave request refused", cause=outcome.cause.value, detail=outcome.detail, attempt=t.attempt)
        return outcome

    took: list[str] = []  # who answered the DELETE: its list is read first
    claims: list[str] = []  # what it said when it said "not a member"
    policy = join_policy(cfg, name="leave")
    reply = run(step, policy=policy, deadline=deadline, log=log, what=f"Leave {service.value}")
    # Neither a 200 nor a "not a member" is a proof: the markers go only once the leader's list
    # shows the member gone (a StepFailed from here keeps them).
    claim = claims[-1] if claims else None
    proof, resent = confirm_removed(
        ctx, service, finder, took[-1], target, deadline, policy, log, claim=claim, segment=segment
    )
    removed = _drop_markers(ctx, service) if target == ctx.config.node_id else []
    if claim is None or resent:
        log.info("Member removed from cluster", member=target, leader_url=proof, markers_removed=removed)
        return ExitCode.OK
    log.warn(
        f"Not a member of the cluster (HTTP {reply.status}); the leader's list confirms it",
        member=target,
        detail=claim,
        leader_url=proof,
        markers_removed=removed,
    )
    return ExitCode.ALREADY_DONE


NOT_A_MEMBER = ("not a member", "no such member", "unknown member")


def _not_a_member(reply: Response) -> str | None:
    """What the answer said when it claims the member is not one (None: it does not): 404 (the
    contract's), 410, or any answer whose `error` says so."""
    said = reply.json_object().get("error")
    text = said if isinstance(said, str) else ""
    if reply.status in (404, 410) or any(words in text.lower() for words in NOT_A_MEMBER):
        return f"HTTP {reply.status} from DELETE {reply.url}" + (f": {text[:120]}" if text else "")
    return None


def _marker_names(service: Service) -> list[str]:
    return [marker_name(service, step) for step in (Step.JOINED, Step.INITIALIZED)]


def _drop_markers(ctx: Context, service: Service) -> list[str]:
    return [name for name in _marker_names(service) if ctx.markers.remove(name)]
