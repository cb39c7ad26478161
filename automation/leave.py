"""`fba leave`: the design's rollback. DELETE the member on the leader, read the list back
until it proves the member gone (`automation.removal`), then drop the marker.

`--member ID` removes another member (one that was added but never came up, as
`fba health-report` flags); the local markers are only touched when removing ourselves.
"""

from __future__ import annotations

from automation.context import Context
from automation.discovery import LeaderFinder, leader_hint
from automation.errors import StepFailed
from automation.http import TransportError
from automation.policy import Deadline, join_backoff
from automation.removal import confirm_removed
from automation.spec.exitcodes import ExitCode
from automation.spec.markers import Service, Step, marker_name


def run_leave(ctx: Context, service: Service, member: str | None) -> ExitCode:
    target = member or ctx.config.node_id
    log = ctx.log.bind(service=service.value, operation="leave")
    cfg = ctx.config.join
    deadline = Deadline.start(cfg.deadline_s, ctx.clock)
    backoff = join_backoff(cfg, deadline)
    finder = LeaderFinder(ctx.config, service, log)
    last = "no attempt made"
    attempt = 0
    for attempt in range(1, cfg.max_attempts + 6):  # + room for leader hints
        url = finder.next()
        try:
            reply = ctx.http.request(
                "DELETE", f"{url}/admin/member/{target}", timeout=deadline.cap(cfg.request_timeout_s)
            )
        except TransportError as err:
            last = err.cause
            finder.forget()
            log.error("Leave request failed: connection error", cause=err.cause, leader_url=url, attempt=attempt)
        else:
            hint = leader_hint(reply) if reply.status in (307, 308, 421) else None
            if hint and hint != url:
                finder.learn(hint)
                continue
            if reply.ok:
                confirm_removed(ctx, service, url, target, deadline, cfg.request_timeout_s, log)
            if reply.ok or reply.status == 404:
                removed = _drop_markers(ctx, service) if target == ctx.config.node_id else []
                if reply.ok:
                    log.info("Member removed from cluster", member=target, leader_url=url, markers_removed=removed)
                    return ExitCode.OK
                log.warn("Not a member of the cluster (HTTP 404)", member=target, markers_removed=removed)
                return ExitCode.ALREADY_DONE
            last = f"HTTP {reply.status}: {reply.excerpt(80)}"
            log.error("Leave request refused", cause=last, leader_url=url, attempt=attempt)
        if backoff.should_stop(attempt):
            break
        deadline.sleep(backoff.delay(attempt))
    raise StepFailed(f"leave {service.value}: member {target} not removed after {attempt} attempts: {last}", cause=last)


def _drop_markers(ctx: Context, service: Service) -> list[str]:
    names = [marker_name(service, step) for step in (Step.JOINED, Step.INITIALIZED)]
    return [name for name in names if ctx.markers.remove(name)]
