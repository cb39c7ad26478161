"""Proof that a member is gone (kind E, for `fba leave`): a 200 to the DELETE is an answer, not
a proof. The member list of the node that took the DELETE must stop listing the member, with
quorum and no change in flight (or `committed: true`), before `leave` reports success and
drops this node's markers. Anything less is re-read within the leave's deadline, through the
shared engine (`automation.retry`): every "not yet" waits, none uses up an attempt."""

from __future__ import annotations

from automation.context import Context
from automation.discovery import MIN_GAP_S, foreign_list
from automation.errors import StepFailed
from automation.http import TransportError
from automation.log import Logger
from automation.membership import Proof, judge_removed, parse_view
from automation.policy import Deadline, RetryPolicy
from automation.retry import GiveUp, Outcome, Try, Verdict, done, run
from automation.spec.causes import Cause
from automation.spec.markers import Service

FIRST_PAUSE_S = MIN_GAP_S  # no faster than discovery lets any peer be asked
MAX_PAUSE_S = 2.0


def confirm_removed(
    ctx: Context, service: Service, url: str, member: str, deadline: Deadline, policy: RetryPolicy, log: Logger
) -> None:
    """Return once `url`'s list proves `member` is gone; raise StepFailed at the deadline."""
    pauses = [FIRST_PAUSE_S]

    def step(t: Try) -> Outcome[None]:
        try:
            reply = ctx.http.request("GET", f"{url}/admin/members", timeout=t.timeout)
        except TransportError as err:
            last = f"member list unreadable: {err.cause.value}"
        else:
            view = parse_view(reply) if reply.ok else None
            wrong = foreign_list(ctx.config, service, view) if view is not None else None
            if view is None:
                last = f"member list unreadable: HTTP {reply.status}"
            elif wrong:
                last = f"{url} answered {wrong}"
            else:
                judgement = judge_removed(view, member)
                if judgement.verdict is Proof.PROVEN:
                    return done(None)
                last = judgement.detail
        pause = pauses[-1]
        pauses.append(min(MAX_PAUSE_S, pause * 2))
        if not deadline.expired():
            log.info("Waiting: removal not proven yet", member=member, detail=last, leader_url=url)
        return Outcome(Verdict.BUSY, Cause.REMOVAL_NOT_CONFIRMED, last, delay=pause)

    def give_up(gave_up: GiveUp) -> StepFailed:
        log.error(
            f"Member {member} not proven removed after {gave_up.requests} reads: {gave_up.last.detail}",
            **gave_up.context(),
            leader_url=url,
        )
        failure = StepFailed(f"leave {service.value}: member {member} {gave_up.said}", cause=gave_up.cause)
        failure.logged = True
        return failure

    run(step, policy=policy, deadline=deadline, log=log, what=f"Removal of {member}", on_give_up=give_up)
