"""Proof that a member is gone (kind E, for `fba leave`): a 200 to the DELETE is an answer, not
a proof. The member list of the node that took the DELETE must stop listing the member, with
quorum and no change in flight (or `committed: true`), before `leave` reports success and
drops this node's markers. Anything less is re-read within the leave's deadline."""

from __future__ import annotations

from automation.context import Context
from automation.discovery import MIN_GAP_S, foreign_list
from automation.errors import StepFailed
from automation.http import TransportError
from automation.log import Logger
from automation.membership import Verdict, judge_removed, parse_view
from automation.policy import Deadline
from automation.spec.markers import Service

FIRST_PAUSE_S = MIN_GAP_S  # no faster than discovery lets any peer be asked
MAX_PAUSE_S = 2.0


def confirm_removed(
    ctx: Context, service: Service, url: str, member: str, deadline: Deadline, request_timeout_s: float, log: Logger
) -> None:
    """Return once `url`'s list proves `member` is gone; raise StepFailed at the deadline."""
    pause = FIRST_PAUSE_S
    last = "no read made"
    reads = 0
    for _ in range(10_000):  # bounded by the deadline; the range is a backstop
        reads += 1
        try:
            reply = ctx.http.request("GET", f"{url}/admin/members", timeout=deadline.cap(request_timeout_s))
        except TransportError as err:
            last = f"member list unreadable: {err.cause}"
        else:
            view = parse_view(reply) if reply.ok else None
            wrong = foreign_list(ctx.config, service, view) if view is not None else None
            if view is None:
                last = f"member list unreadable: HTTP {reply.status}"
            elif wrong:
                last = f"{url} answered {wrong}"
            else:
                judgement = judge_removed(view, member)
                if judgement.verdict is Verdict.PROVEN:
                    return
                last = judgement.detail
        if deadline.expired():
            break
        log.info("Waiting: removal not proven yet", member=member, detail=last, leader_url=url)
        deadline.sleep(pause)
        pause = min(MAX_PAUSE_S, pause * 2)
        if deadline.expired():
            break
    cause = f"removal not confirmed: {last}"
    log.error(f"Member {member} not proven removed after {reads} reads: {last}", cause=cause, leader_url=url)
    failure = StepFailed(f"leave {service.value}: member {member} {cause}", cause=cause)
    failure.logged = True
    raise failure
