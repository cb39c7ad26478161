"""`fba leave`: the design's rollback. DELETE the member on the leader, read the leader's list
until it proves the member gone (`automation.removal`), then drop the marker.

`--member ID` removes another member (one that was added but never came up, as
`fba health-report` flags); the local markers are only touched when removing ourselves.
Requests go through the shared engine: a leader hint is a free hop, "later" answers wait
(Retry-After honoured), a 4xx that means "never" ends the leave quoting the answer. 404 is
the contract's "not a member", but a proxy or a lagging node answers 404 too: like a 200, it
is a claim that the leader's list must confirm before any marker goes (exit 2 then).

Leaving this node (no `--member`) first reads the leader's list and judges it as the join
does (`markertrust.ask_leader`, `membership.judge`): our id listed at another Raft address (a
cloned config, a re-used id) is a conflict, exit 3, nothing sent; that member may be another
running machine, and only an explicit `--member ID` removes it. A list, or an answer to the
DELETE, naming this node's own API as the leader ends the leave at once: a leader cannot
remove itself and fba never asks its own API; leadership must move first.

A marker is trusted without a request, so none may stay in place while the member may be
gone (a leave killed while its DELETE was in flight left `.chainfire-joined` behind, and
every later join said "already member" without asking): before the DELETE the markers are
moved aside (`spec.markers.leaving_name`), which the join does not read; it re-reads the
leader's list and writes its marker again when that lists this node. They are moved back
only when no DELETE can have taken effect (every answer a 3xx/4xx, or the request never
delivered), and dropped with the copies once the removal is proven.
"""

from __future__ import annotations

from urllib.parse import quote

from automation.context import Context
from automation.discovery import LeaderFinder, foreign_list, leader_hint, leaderless
from automation.errors import FbaError, MembershipConflict, StepFailed, UsageError
from automation.http import Response, TransportError
from automation.log import Logger
from automation.markertrust import ask_leader, identity_for
from automation.membership import Proof, parse_view
from automation.policy import Deadline, join_policy
from automation.removal import confirm_removed
from automation.retry import Outcome, Try, Verdict, classify, classify_error, done, run
from automation.spec.causes import MAYBE_DELIVERED, Cause
from automation.spec.exitcodes import ExitCode
from automation.spec.markers import Service, Step, is_node_id, leaving_name, marker_name
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
            return _run_leave_locked(ctx, service, target, deadline, log, judge_first=member is None)
    except FbaError as err:
        log.failure(err)  # with this service and operation (`Logger.failure`)
        raise


def _run_leave_locked(
    ctx: Context, service: Service, target: str, deadline: Deadline, log: Logger, *, judge_first: bool
) -> ExitCode:
    cfg = ctx.config.join
    if target == ctx.config.node_id:
        # Leaving ourselves ends by dropping our markers: the state dir is proven writable (and
        # no directory stands in a marker's place) before the DELETE, not found read-only after
        # the member is gone and the markers still say "joined".
        warning = ctx.markers.ensure_directory(*_marker_names(service))
        if warning:
            log.warn(warning)
    if judge_first:  # this node, as configured (no `--member`): judged as the join judges it
        _judge_before_leaving(ctx, service, deadline, log)
    finder = LeaderFinder(ctx.config, service, log, ctx.clock, terms=ctx.terms)
    moved = _set_markers_aside(ctx, service, log) if target == ctx.config.node_id else []
    ctx.failpoints.hit("leave.before-delete")
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
        wrong = _other_cluster(url, t)
        if wrong is not None:
            return wrong
        try:
            reply = ctx.http.request("DELETE", f"{url}/admin/member/{segment}", timeout=deadline.cap(t.timeout))
        except TransportError as err:
            if err.cause in MAYBE_DELIVERED:
                maybe_taken.append(url)  # sent, its answer lost: it may have committed
            finder.forget()
            log.error(
                "Leave request failed: connection error", cause=err.cause.value, leader_url=url, attempt=t.attempt
            )
            return classify_error(err)
        if reply.status < 300 or reply.status >= 500:
            maybe_taken.append(url)  # taken, or a server error that may follow a commit
        hint = leader_hint(reply) if reply.status in (307, 308, 421) else None
        if hint and finder.is_own(hint):
            how = f"{url} answered the DELETE {reply.status} naming {hint}"
            raise _leader_is_us(service, target, how, log, itself=target == ctx.config.node_id)
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

    def _other_cluster(url: str, t: Try) -> Outcome[Response] | None:
        """A candidate other than the configured leader gets the DELETE only if the list it
        answers is this cluster's (`discovery.foreign_list`): a discovery peer whose address now
        serves another cluster was sent it, and `--member x22` removed that cluster's member
        (break 12, K11). An answer that is no list says nothing here: the DELETE is judged as
        before (its answer, then the leader's list, must confirm it)."""
        if finder.same_peer(url, ctx.config.leader_url_for(service)):
            return None
        try:
            reply = ctx.http.request("GET", f"{url}/admin/members", timeout=deadline.cap(t.timeout))
        except TransportError:
            return None
        view = parse_view(reply) if reply.ok else None
        wrong = foreign_list(ctx.config, service, view, ctx.terms, url, finder.vouched(url)) if view else None
        if wrong is None:
            return None
        log.warn(f"Leader candidate {url} answered {wrong}; not sending it the DELETE", leader_url=url)
        finder.set_aside(url, Cause.FOREIGN_MEMBER_LIST.value, base_s=cfg.retry_delay_s, cap_s=cfg.max_retry_delay_s)
        return Outcome(Verdict.ATTEMPT, Cause.FOREIGN_MEMBER_LIST, f"{url} answered {wrong}")

    took: list[str] = []  # who answered the DELETE: its list is read first
    claims: list[str] = []  # what it said when it said "not a member"
    maybe_taken: list[str] = []  # peers whose DELETE may have taken effect (no "known refused")
    resent_to: list[str] = []  # leaders `confirm_removed` sent the DELETE to again
    policy = join_policy(cfg, name="leave")
    try:
        reply = run(step, policy=policy, deadline=deadline, log=log, what=f"Leave {service.value}")
        ctx.failpoints.hit("leave.after-delete")
        # Neither a 200 nor a "not a member" is a proof: the markers go only once the leader's
        # list shows the member gone.
        claim = claims[-1] if claims else None
        proof, resent = confirm_removed(
            ctx, service, finder, took[-1], target, deadline, policy, log, claim=claim, segment=segment,
            resent=resent_to,
        )  # fmt: skip
    except FbaError:
        _after_failure(ctx, moved, maybe_taken or resent_to, log)
        raise
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


def _judge_before_leaving(ctx: Context, service: Service, deadline: Deadline, log: Logger) -> None:
    """Read the leader's list before any DELETE of this node's id and judge it as the join does.

    Our id at another Raft address is another machine's membership as far as this node can
    tell (break 9: the leave removed a running node04 at 127.9.0.44, exit 0): a conflict,
    exit 3, nothing sent. A list naming this node as the leader: the leave cannot succeed (see
    `_leader_is_us`). No list read in the check's short budget: the DELETE's answer and the
    read after it decide, as before."""
    cfg = ctx.config.join.model_copy(update={"deadline_s": max(0.1, deadline.remaining())})
    answer = ask_leader(ctx, service, cfg, log, identity_for(ctx.config, service))
    if answer is None:
        log.info("No leader's member list read before the DELETE; its answer and the read after it decide")
        return
    if answer.own_api:
        # Our own service answered at a peer's URL (a load balancer that picked us): a DELETE
        # there would go to our own one-node cluster, not the cluster's leader (break 10, G4).
        message = (
            f"{answer.url} answered this node's own member list (only this node, as its leader): that URL leads "
            f"to this node's own {service.value}, a cluster of its own; nothing was removed. Name the cluster's "
            f"leader in leader_url (not an address that can reach this node)"
        )
        log.error(message, cause=Cause.OWN_SERVICE_IN_ANOTHER_CLUSTER.value, leader_url=answer.url)
        raise MembershipConflict(message)
    if answer.leader_is_us:
        raise _leader_is_us(service, ctx.config.node_id, f"{answer.url}'s member list names it", log, itself=True)
    if answer.judgement.verdict is Proof.CONFLICT:
        message = (
            f"Membership conflict: {answer.judgement.detail} (the leader {answer.url}); that member may be another "
            f"machine using this node's id, so nothing was removed. To remove it anyway, name it explicitly: "
            f"fba leave --service {service.value} --member ID"
        )
        log.error(message, cause=Cause.MEMBERSHIP_CONFLICT.value, leader_url=answer.url)
        raise MembershipConflict(message)


def _leader_is_us(service: Service, target: str, how: str, log: Logger, *, itself: bool) -> StepFailed:
    """A peer names this node's own API as the leader: no retry can change that (fba never asks
    its own API, and a leader cannot remove itself); one line saying so (break 9: three
    "unexpected answer" lines)."""
    what = (
        "move leadership to another member first, then run the leave again"
        if itself
        else f"run `fba leave --member {target}` on another member"
    )
    message = f"This node is the {service.value} leader ({how}); it cannot leave while it leads: {what}"
    log.error(message, cause=Cause.LEADER_IS_US.value, member=target)
    failure = StepFailed(message, cause=Cause.LEADER_IS_US)
    failure.logged = True
    return failure


def _set_markers_aside(ctx: Context, service: Service, log: Logger) -> list[str]:
    """Move this node's markers aside before the DELETE (module docstring); the names moved."""
    moved = [name for name in _marker_names(service) if ctx.markers.rename(name, leaving_name(name))]
    if moved:
        log.info("Markers set aside until the removal is proven (a join meanwhile re-reads the leader's list)",
                 markers=moved, set_aside_as=[leaving_name(name) for name in moved])  # fmt: skip
    return moved


def _after_failure(ctx: Context, moved: list[str], maybe_taken: list[str], log: Logger) -> None:
    """The leave failed: put the markers back when no DELETE can have taken effect; else leave
    them aside, for the next join to re-derive from the leader's list."""
    if not moved:
        return
    if maybe_taken:
        log.warn("Markers left aside: a DELETE may have taken effect; the next join re-reads the leader's list",
                 markers=[leaving_name(name) for name in moved], maybe_taken_by=sorted(set(maybe_taken)))  # fmt: skip
        return
    try:
        for name in moved:
            ctx.markers.rename(leaving_name(name), name)
    except FbaError as err:
        log.warn(f"Markers not restored: {err.message}; the next join re-reads the leader's list")
        return
    log.info("Markers restored: no DELETE took effect", markers=moved)


def _drop_markers(ctx: Context, service: Service) -> list[str]:
    """The removal is proven: the markers and every copy set aside (also by an earlier leave
    that did not finish) go."""
    removed = []
    for name in _marker_names(service):
        if ctx.markers.remove(leaving_name(name)) | ctx.markers.remove(name):
            removed.append(name)
    return removed
