"""Proof that a member is gone (kind E, for `fba leave`): neither a 200 to the DELETE nor a "not
a member" answer (404, 410, or an error saying so) is a proof. Only the leader's member list
is: it must not list the member, with quorum and no change in flight (or `committed: true`),
before `leave` reports success and drops this node's markers.
A leader whose `term` is older than one another candidate names, or than any list read earlier
in the run showed (the same URL before the DELETE: break 11, H3), is no such leader: its list,
and its "not a member", prove nothing (`discovery.newer_leader`, break 10, G3).

The list is read as the join reads it (`automation.join`): from the node that answered the
DELETE first, then from whichever leader a list or a redirect names (a list that names another
leader is no proof), and a candidate that does not answer, answers something that is not a
member list, a bad list or another service's list is set aside while the others are tried
(`automation.discovery`). Anything less than a proof is re-read within the leave's deadline,
through the shared engine (`automation.retry`): every "not yet" waits, none uses up an
attempt. When the deadline ends first, the leave fails with the cause `removal not confirmed`
and the detail of the last read; `automation.leave` says what became of the markers.
"""

from __future__ import annotations

from automation.context import Context
from automation.discovery import MIN_GAP_S, LeaderFinder, base_url, foreign_list, leader_hint, newer_leader
from automation.errors import StepFailed
from automation.http import TransportError
from automation.log import Logger
from automation.membership import BadMemberList, MemberView, Proof, judge_removed, read_view
from automation.policy import Deadline, RetryPolicy
from automation.retry import GiveUp, Outcome, Try, Verdict, done, run
from automation.spec.causes import Cause
from automation.spec.markers import Service

FIRST_PAUSE_S = MIN_GAP_S  # no faster than discovery lets any peer be asked
MAX_PAUSE_S = 2.0
REDIRECTS = (301, 302, 307, 308, 421)


def confirm_removed(
    ctx: Context,
    service: Service,
    finder: LeaderFinder,
    url: str,
    member: str,
    deadline: Deadline,
    policy: RetryPolicy,
    log: Logger,
    *,
    claim: str | None = None,
    segment: str | None = None,
    resent: list[str] | None = None,
) -> tuple[str, bool]:
    """Return the URL whose list proves `member` gone, and whether the DELETE had to be sent
    again to a leader that still listed it (then it was removed, whatever `claim` said); raise
    StepFailed otherwise.

    `url` answered the DELETE. `claim`: what it answered when it said "not a member" instead
    of removing anyone; a settled leader's list that still lists the member then ends the
    leave at once, since nothing is being removed that waiting could see committed.
    `segment`: the member's id as a URL path segment; with it, a settled list of ANOTHER
    leader than the ones that took the DELETE that still lists the member gets the DELETE
    again (the leader that answered 200 may have died before committing it: break 8, the leave
    read 33 lists for 60 s and failed), at most `policy.max_attempts` times in all.
    `resent`: a list the leaders sent the DELETE again are appended to, which the caller can
    read when this raises (a DELETE sent here may have taken effect: `automation.leave`).
    """
    cfg = ctx.config.join
    # Our own removal is judged as the join judges membership (our id or our Raft address
    # under any id); another member's Raft address we do not know.
    raft_addr = ctx.config.service_raft_addr(service) if member == ctx.config.node_id else None
    pauses = [FIRST_PAUSE_S]
    last = [f"no member list read yet from {url}"]
    finder.prefer(url)
    if resent is None:
        resent = []  # leaders the DELETE was sent to again (besides `url`, which took it)

    def delete_again(where: str, timeout: float) -> None:
        resent.append(where)
        log.info("The leader still lists the member; sending it the DELETE (the one that took it may "
                 "not have committed it)", member=member, leader_url=where)  # fmt: skip
        try:
            reply = ctx.http.request("DELETE", f"{where}/admin/member/{segment}", timeout=timeout)
        except TransportError as err:
            last.append(f"DELETE to {where}: {err.cause.value}")
            return
        last.append(f"DELETE to {where}: HTTP {reply.status}")

    def waiting(detail: str) -> Outcome[str]:
        last.append(detail)
        pause = pauses[-1]
        pauses.append(min(MAX_PAUSE_S, pause * 2))
        if not deadline.expired():
            log.info("Waiting: removal not proven yet", member=member, detail=detail)
        return Outcome(Verdict.BUSY, Cause.REMOVAL_NOT_CONFIRMED, detail, delay=pause)

    def set_aside(where: str, cause: Cause, detail: str) -> Outcome[str]:
        finder.set_aside(where, cause.value, base_s=cfg.retry_delay_s, cap_s=cfg.max_retry_delay_s)
        return waiting(detail)

    def hop(where: str, hint: str | None) -> Outcome[str] | None:
        """To the leader `where` named, if it may be asked."""
        if hint and not finder.same_peer(finder.normalise(hint), where) and finder.learn(hint):
            return Outcome(Verdict.HOP, Cause.REMOVAL_NOT_CONFIRMED, f"{where} names the leader {hint}", delay=0)
        return None

    def read(where: str, timeout: float) -> MemberView | Outcome[str]:
        try:
            reply = ctx.http.request("GET", f"{where}/admin/members", timeout=timeout)
        except TransportError as err:
            return set_aside(where, err.cause, f"member list of {where} unreadable: {err.cause.value}")
        if reply.status in REDIRECTS:
            return hop(where, leader_hint(reply)) or set_aside(
                where, Cause.NOT_LEADER, f"{where} answered HTTP {reply.status} naming no leader that may be asked"
            )
        if not reply.ok:
            return set_aside(
                where, Cause.UNREADABLE_MEMBER_LIST, f"member list of {where} unreadable: HTTP {reply.status}"
            )
        try:
            view = read_view(reply)
        except BadMemberList as bad:
            return set_aside(where, Cause.BAD_RESPONSE, f"{where} answered a bad member list: {bad}")
        if view is None:
            return set_aside(
                where, Cause.UNREADABLE_MEMBER_LIST, f"{where} answered no member list: {reply.excerpt(80)}"
            )
        wrong = foreign_list(ctx.config, service, view, finder.terms, where, finder.vouched(where))
        if wrong:
            return set_aside(where, Cause.FOREIGN_MEMBER_LIST, f"{where} answered {wrong}")
        finder.saw(view, where)  # the run's term floor (`discovery.TermFloor`)
        leader = finder.normalise(base_url(view.leader_url)) if view.leader_url else None
        if view.leader_url and not finder.same_peer(leader, where):
            # A follower's list may lag the leader's, or run ahead of what it committed: no proof.
            return hop(where, leader) or set_aside(
                where, Cause.NOT_LEADER, f"{where} names leader {view.leader_url}, which cannot be asked"
            )
        if view.leader_url is None:
            # A list that names no leader is a follower's: no proof either way (as for the join).
            cause = Cause.NO_QUORUM if view.has_quorum is False else Cause.NO_LEADER
            return set_aside(where, cause, f"{where} names no leader; its list proves nothing")
        if not view.unsettled():
            finder.clear(where)
        return view

    def outvoted(where: str, view: MemberView) -> Outcome[str] | None:
        """Before `where`'s list ends the leave (gone, or "still listed" after a "not a member"):
        the leader of a later term, when another candidate names one (`discovery.newer_leader`,
        the rule every conclusion from a leader's list shares). A cut-off old leader answers
        404 "not a member" for a member it never saw, and its list lacks it (break 10, G3:
        exit 2, the marker deleted, while the leader of term 9 still listed this node)."""
        budget = deadline.sub(2 * cfg.request_timeout_s)
        newer = newer_leader(ctx.http, finder, where, view, budget, cfg.request_timeout_s)
        if newer is None:
            return None
        detail = newer.detail(where, view)
        if newer.leader is None:  # none to ask but `where` again (a VIP in front of an ex-leader): read again
            return set_aside(where, Cause.NOT_LEADER, f"{detail}; read again")
        return hop(where, newer.leader) or set_aside(where, Cause.NOT_LEADER, f"{detail}, which cannot be asked now")

    def step(t: Try) -> Outcome[str]:
        where = finder.take(deadline, may_end=False)  # set aside, or the per-peer rate limit
        if where is None:
            return Outcome(Verdict.BUSY, Cause.REMOVAL_NOT_CONFIRMED, last[-1])
        view = read(where, deadline.cap(t.timeout))
        if isinstance(view, Outcome):
            if view.verdict is not Verdict.HOP:
                finder.end_chain()
            return view
        finder.end_chain()
        judgement = judge_removed(view, member, raft_addr)
        settled = view.leader_url is not None and not view.unsettled()
        if judgement.verdict is Proof.PROVEN or (claim is not None and not resent and settled):
            later = outvoted(where, view)
            if later is not None:
                return later
        if judgement.verdict is Proof.PROVEN:
            return done(where)
        finder.prefer(where)  # the leader's list: read it again
        if (
            segment is not None
            and not view.unsettled()
            and not finder.same_peer(where, url)
            and not any(finder.same_peer(where, sent) for sent in resent)
            and len(resent) < policy.max_attempts
        ):
            delete_again(where, deadline.cap(t.timeout))
            return waiting(f"{judgement.detail} by {where}; the DELETE sent there")
        if claim is not None and not resent and not view.unsettled():  # settled, and still listing the member
            detail = f"{claim}, but {member} still listed by the leader {where}"
            return Outcome(Verdict.PERMANENT, Cause.REMOVAL_NOT_CONFIRMED, detail)
        return waiting(f"{judgement.detail} by {where}")

    def give_up(gave_up: GiveUp) -> StepFailed:
        log.error(
            f"Member {member} not proven removed after {gave_up.requests} reads: {gave_up.last.detail}",
            **gave_up.context(),
        )
        failure = StepFailed(f"leave {service.value}: member {member} {gave_up.said}", cause=gave_up.cause)
        failure.logged = True
        return failure

    proof = run(step, policy=policy, deadline=deadline, log=log, what=f"Removal of {member}", on_give_up=give_up)
    return proof, bool(resent)
