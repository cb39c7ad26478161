"""`fba join`: bootstrap or join one service's Raft cluster, exactly once.

The design's algorithm (POST member/add, 200/201 joined, 409 already a member, retry 5 x 10 s)
plus what etcd, Consul and kubeadm users learnt the hard way:
- A marker on disk is trusted only when it names this node (node id, cluster, Raft address);
  one that names someone else (a cloned disk) or nobody (hand-written, or from an older fba)
  is verified once against the leader (`automation.markertrust`).
- Read the member list before adding: already listed with our Raft address counts as joined
  (no second add); our id listed with another address is a conflict, named, never "fixed" by
  adding a duplicate.
- Hints (307, 421 + X-Leader-URL, the list's `leader`) are candidates, not verdicts
  (`automation.discovery`): never a lower scheme, never another service's port, and whoever
  is hinted is asked for its own list before anything is added there. A candidate that does
  not answer, answers "no quorum"/"no leader", or lists another service is set aside (with a
  pause that doubles) and the others are tried.
- No add while the leader reports a membership change in flight; wait for it within the
  deadline (waits do not use up attempts).
- Only a final read proves membership: after the add, the list must show us listed with our
  Raft address, as a voter, with quorum and no change in flight (or `committed: true`), read
  from the leader. Anything less is waited for within the deadline, then fails with that
  cause. The marker is written only then.
- An add whose answer was lost (timeout) may have committed: the next read finds us, and that
  counts as our join.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from automation.context import Context
from automation.discovery import LeaderFinder, base_url, foreign_list, leader_hint
from automation.errors import JoinFailed, MembershipConflict, StepFailed
from automation.health import wait_healthy
from automation.http import Response, TransportError
from automation.log import Logger
from automation.markers import MarkerState, Ownership
from automation.markertrust import Trust, check_marker, identity_for
from automation.membership import Verdict, judge, parse_member, parse_view
from automation.policy import Deadline, join_backoff, retry_after
from automation.spec.config import JoinConfig
from automation.spec.exitcodes import ExitCode
from automation.spec.markers import Service, Step, marker_name

MAX_FREE_HOPS = 5  # leader hints and verifications followed without using up an attempt


class Kind(StrEnum):
    ATTEMPT = "attempt"  # a failure: uses up one of the attempts
    HOP = "hop"  # re-routed (leader hint) or verifying: free, at most MAX_FREE_HOPS in a row
    BUSY = "busy"  # no quorum / change in flight / not committed / 503: free, bounded by the deadline only


@dataclass(frozen=True)
class Retry:
    """One attempt did not finish the join, and why."""

    cause: str
    kind: Kind
    delay: float | None = None  # None: the backoff policy decides
    detail: str | None = None  # e.g. the TLS error naming the CA, for the final line


def run_join(ctx: Context, service: Service, join_cfg: JoinConfig, prerequisite: Service | None = None) -> ExitCode:
    log = ctx.log.bind(service=service.value, operation="cluster-join")
    marker = _marker_present(ctx, service)
    if marker is not None and check_marker(ctx, service, marker, join_cfg, log) is Trust.TRUSTED:
        return ExitCode.ALREADY_DONE
    if prerequisite is not None:
        _require_joined(ctx, prerequisite, log)
    warning = ctx.markers.ensure_directory()
    if warning:
        log.warn(warning)
    cfg = ctx.config
    health_url = ctx.config.local_api_url(service) + cfg.endpoint(service).health_path
    budget = min(cfg.health.timeout_s, join_cfg.deadline_s)
    wait_healthy(health_url, http=ctx.http, cfg=cfg.health, deadline=Deadline.start(budget, ctx.clock), log=log)
    if cfg.bootstrap:
        name = marker_name(service, Step.INITIALIZED)
        ctx.markers.write(name, identity_for(cfg, service))
        log.info("Bootstrap node: the Raft cluster forms from initial_peers; no join request sent", marker=name)
        return ExitCode.OK
    return Joiner(ctx, service, join_cfg, log).run()


def _require_joined(ctx: Context, prerequisite: Service, log: Logger) -> None:
    """`--require-joined`: the prerequisite's own join verified its marker (and re-wrote it with
    this node's identity when the leader confirmed it); a marker still naming another node was
    trusted only because no leader answered, so it is accepted here with a WARN."""
    names = [marker_name(prerequisite, step) for step in (Step.INITIALIZED, Step.JOINED)]
    state = _marker_present(ctx, prerequisite)
    if state is not None:
        ownership = state.ownership(identity_for(ctx.config, prerequisite))
        if ownership is not Ownership.OURS:
            log.warn(
                f"{prerequisite.value}'s marker {state.name} "
                f"{state.written_for(identity_for(ctx.config, prerequisite))}; accepted as {prerequisite.value}'s "
                "join kept it",
                marker=state.name,
                ownership=ownership.value,
            )
        return
    cause = f"{prerequisite.value} not joined yet"
    log.error(f"Waiting for {prerequisite.value}: no {' or '.join(names)} marker yet; systemd retries", cause=cause)
    failure = StepFailed(f"{cause}: no {' or '.join(names)} in {ctx.markers.directory}", cause=cause)
    failure.logged = True
    raise failure


def _marker_present(ctx: Context, service: Service) -> MarkerState | None:
    for step in (Step.INITIALIZED, Step.JOINED):
        state = ctx.markers.read(marker_name(service, step))
        if state.present:
            return state
        if state.status.value == "corrupt":
            ctx.log.bind(service=service.value, operation="cluster-join").warn(
                "Marker corrupt; not trusted, verifying membership again", marker=state.name, detail=state.detail
            )
    return None


def _leaderless(reply: Response) -> str | None:
    """"no leader"/"no quorum" when an error answer says so (any 5xx, or 503 at all)."""
    if reply.status < 500:
        return None
    said = str(reply.json_object().get("error") or reply.excerpt(120)).lower()
    if "quorum" in said:
        return "no quorum"
    if "leader" in said:
        return "no leader"
    return "service unavailable" if reply.status == 503 else None


class Joiner:
    def __init__(self, ctx: Context, service: Service, cfg: JoinConfig, log: Logger) -> None:
        self.ctx = ctx
        self.service = service
        self.cfg = cfg
        self.log = log
        self.node_id = ctx.config.node_id
        self.raft_addr = ctx.config.service_raft_addr(service)
        self.finder = LeaderFinder(ctx.config, service, log, ctx.clock)
        self.deadline = Deadline.start(cfg.deadline_s, ctx.clock)
        self.backoff = join_backoff(cfg, self.deadline)
        self.added_by_us = False  # a 201 seen, or an add sent whose answer was lost
        self.saw_409 = False
        self.busy = 0  # waits so far: each one's delay grows

    def run(self) -> ExitCode:
        attempts = 0
        free_hops = 0
        last_cause = "no attempt made"
        last_detail: str | None = None
        self.log.info("Joining cluster", policy=self.backoff.describe, raft_addr=self.raft_addr)
        # Bounded by attempts, the deadline and the free-hop cap; the range is a backstop.
        for _ in range(10_000):
            url = self.finder.next()
            self.deadline.sleep(self.finder.wait_for(url))  # set aside, or the per-peer rate limit
            if self.deadline.expired():
                break
            self.finder.asked(url)
            outcome = self._attempt(url, attempts + 1)
            if isinstance(outcome, ExitCode):
                return outcome
            last_cause = outcome.cause
            last_detail = outcome.detail or last_detail
            if outcome.kind is Kind.ATTEMPT or (outcome.kind is Kind.HOP and free_hops >= MAX_FREE_HOPS):
                attempts += 1
                free_hops = 0
                if self.backoff.should_stop(attempts) or self.deadline.expired():
                    break
                self.deadline.sleep(outcome.delay if outcome.delay is not None else self.backoff.delay(attempts))
                continue
            free_hops = free_hops + 1 if outcome.kind is Kind.HOP else 0
            if self.deadline.expired():
                break
            delay = outcome.delay
            if outcome.kind is Kind.BUSY and delay is None:
                self.busy += 1
                delay = self.backoff.delay(self.busy)
            if delay:
                self.deadline.sleep(delay)
        said = f"{last_cause} ({last_detail})" if last_detail else last_cause
        self.log.error(
            f"Join failed after {attempts} attempts in {self.deadline.elapsed():.1f}s: {said}",
            cause=last_cause,
            detail=last_detail,
            attempt=attempts,
            elapsed_s=round(self.deadline.elapsed(), 3),
        )
        raise JoinFailed(f"join {self.service.value} failed after {attempts} attempts: {said}", cause=last_cause)

    def _set_aside(self, url: str, cause: str) -> None:
        self.finder.set_aside(url, cause, base_s=self.cfg.retry_delay_s, cap_s=self.cfg.max_retry_delay_s)

    # One attempt: read the list, maybe add, and let the next read verify.

    def _attempt(self, url: str, attempt: int) -> ExitCode | Retry:
        timeout = self.deadline.cap(self.cfg.request_timeout_s)
        try:
            reply = self.ctx.http.request("GET", f"{url}/admin/members", timeout=timeout)
        except TransportError as err:
            return self._transport_failure(url, err, attempt)
        redirected = self._redirect(reply, url)
        if redirected:
            return redirected
        if not reply.ok:
            waiting = _leaderless(reply)
            if waiting:
                # An election or a lost quorum (Consul's 500 "No cluster leader", etcd's "no
                # leader"): later, and maybe elsewhere; it must not use up the attempts.
                self.log.warn(f"Waiting: {url} reports {waiting}; trying the other candidates", leader_url=url)
                self._set_aside(url, waiting)
                return Retry(waiting, Kind.BUSY, delay=0)
            self._set_aside(url, f"HTTP {reply.status}")
            return Retry(f"HTTP {reply.status} from {url}/admin/members", Kind.ATTEMPT)
        view = parse_view(reply)
        if view is None:
            self._set_aside(url, "unreadable member list")
            return Retry(f"unreadable member list from {url}: {reply.excerpt(80)}", Kind.ATTEMPT)
        wrong = foreign_list(self.ctx.config, self.service, view)
        if wrong:
            self.log.warn(f"Leader candidate {url} answered {wrong}; not using it", leader_url=url)
            self._set_aside(url, wrong)
            return Retry(f"{url} answered {wrong}", Kind.ATTEMPT)
        leader = self.finder.normalise(base_url(view.leader_url)) if view.leader_url else None
        if view.leader_url and leader != url:
            if leader and self.finder.learn(leader):
                return Retry("not the leader", Kind.HOP)
            self._set_aside(url, f"names leader {view.leader_url}, which cannot be asked")
            return Retry(f"{url} names leader {view.leader_url}, which cannot be asked", Kind.ATTEMPT)
        judgement = judge(view, self.node_id, self.raft_addr)
        if judgement.verdict is Verdict.CONFLICT:
            self._conflict(judgement.detail)
        if judgement.verdict is Verdict.PROVEN:
            return self._joined()
        if judgement.verdict is Verdict.PENDING:
            self.log.info("Waiting: listed, but membership not proven yet", detail=judgement.detail, leader_url=url)
            self.finder.prefer(url)
            return Retry(judgement.detail, Kind.BUSY)
        if view.no_leader or view.has_quorum is False:
            cause = "no leader" if view.no_leader else "no quorum"
            self.log.warn(f"Waiting: {url} reports {cause}; not adding a member there now", leader_url=url)
            self._set_aside(url, cause)
            return Retry(cause, Kind.BUSY, delay=0)
        if view.change_in_flight:
            self.log.info("Waiting: another membership change is in flight", leader_url=url)
            self.finder.prefer(url)
            return Retry("membership change in flight", Kind.BUSY)
        return self._add(url, attempt)

    def _joined(self) -> ExitCode:
        self.ctx.failpoints.hit("join.after-verify")
        name = marker_name(self.service, Step.JOINED)
        self.ctx.markers.write(name, identity_for(self.ctx.config, self.service))
        if self.added_by_us:
            self.log.info("Successfully joined cluster", marker=name, elapsed_s=round(self.deadline.elapsed(), 3))
            return ExitCode.OK
        message = "Node already member of cluster (HTTP 409)" if self.saw_409 else "Node already member of cluster"
        self.log.warn(message, marker=name, raft_addr=self.raft_addr)
        return ExitCode.ALREADY_DONE

    def _conflict(self, detail: str) -> None:
        message = (
            f"Membership conflict: {detail}; refusing to add a duplicate. "
            "Fix raft_addr/node_id or remove the stale member (fba leave --member)"
        )
        self.log.error(message, cause="membership conflict")
        raise MembershipConflict(message)

    def _add(self, url: str, attempt: int) -> Retry:
        self.ctx.failpoints.hit("join.before-request")
        body = {
            "id": self.node_id,
            "raft_addr": self.raft_addr,
            "api_url": self.ctx.config.advertised_api_url(self.service),
        }
        try:
            reply = self.ctx.http.request(
                "POST", f"{url}/admin/member/add", body=body, timeout=self.deadline.cap(self.cfg.request_timeout_s)
            )
        except TransportError as err:
            if err.cause == "timed out":
                self.added_by_us = True  # it may have committed; the next read tells
            return self._transport_failure(url, err, attempt)
        context = {"attempt": attempt, "http_code": reply.status, "leader_url": url}
        if reply.status in (200, 201):
            self.added_by_us = True
            self.log.info("Member add accepted; verifying membership", **context)
            self.ctx.failpoints.hit("join.after-add")
            self.finder.prefer(url)  # the final read comes from the leader that took the add
            return Retry("verifying membership", Kind.HOP, delay=0)
        if reply.status == 409:
            self.saw_409 = True
            member = parse_member(reply.json_object().get("member"))
            if member is not None and member.id == self.node_id and member.raft_addr != self.raft_addr:
                self._conflict(
                    f"{self.node_id} is listed with raft_addr {member.raft_addr}, "
                    f"but this node is configured with {self.raft_addr}"
                )
            if member is not None and member.id != self.node_id:
                self._conflict(f"raft_addr {self.raft_addr} is already used by member {member.id}")
            self.finder.prefer(url)
            return Retry("verifying membership after HTTP 409", Kind.HOP, delay=0)
        redirected = self._redirect(reply, url)
        if redirected:
            return redirected
        if reply.status == 503:
            cause = str(reply.json_object().get("error") or "service unavailable")
            self.log.info(f"Waiting: leader answered 503 ({cause})", **context)
            self.finder.prefer(url)
            return Retry(
                cause, Kind.BUSY, delay=retry_after(reply.headers.get("retry-after"), self.backoff.delay(attempt))
            )
        if 400 <= reply.status < 500:
            cause = f"rejected: HTTP {reply.status} {reply.excerpt(120)}"
            self.log.error("Join request rejected", cause=cause, **context)
            raise JoinFailed(f"join {self.service.value}: leader {url} {cause}", cause=cause)
        self.log.error(f"Join request failed: HTTP {reply.status}", body=reply.excerpt(120), **context)
        self._set_aside(url, f"HTTP {reply.status}")
        return Retry(f"HTTP {reply.status} from {url}", Kind.ATTEMPT)

    def _redirect(self, reply: Response, url: str) -> Retry | None:
        if reply.status not in (301, 302, 307, 308, 421):
            return None
        hint = leader_hint(reply)
        if hint and self.finder.normalise(hint) != url and self.finder.learn(hint):
            return Retry("not the leader", Kind.HOP)
        self._set_aside(url, "not the leader, and named no leader that may be asked")
        return Retry(f"{url} is not the leader and named no leader that may be asked", Kind.ATTEMPT)

    def _transport_failure(self, url: str, err: TransportError, attempt: int) -> Retry:
        self.log.error(
            "Join request failed: connection error",
            cause=err.cause,
            detail=str(err),
            attempt=attempt,
            leader_url=url,
            elapsed_s=round(self.deadline.elapsed(), 3),
        )
        self._set_aside(url, err.cause)
        return Retry(err.cause, Kind.ATTEMPT, detail=str(err))
