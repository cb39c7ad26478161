"""`fba join`: bootstrap or join one service's Raft cluster, exactly once.

The design's algorithm (POST member/add, 200/201 joined, 409 already a member, retry 5 x 10 s)
plus what etcd and kubeadm users learnt the hard way:
- Read the member list before adding: already listed with our Raft address counts as joined
  (no second add); our id listed with another address is a conflict, named, never "fixed" by
  adding a duplicate.
- No add while the leader reports no quorum or another membership change in flight; wait for
  it within the deadline (these waits do not use up attempts).
- After the add, read the list again: the marker is written only when we are listed.
- An add whose answer was lost (timeout) may have committed: the next attempt's read finds
  us, and that counts as our join.
- Follow leader hints (307, 421 + X-Leader-URL, the list's `leader`), fall back to the other
  peers and DNS SRV.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from automation.context import Context
from automation.discovery import LeaderFinder, base_url, leader_hint
from automation.errors import JoinFailed, MembershipConflict, StepFailed
from automation.health import wait_healthy
from automation.http import Response, TransportError
from automation.log import Logger
from automation.membership import MemberView, parse_member, parse_view
from automation.policy import Deadline, join_backoff, retry_after
from automation.spec.config import JoinConfig
from automation.spec.exitcodes import ExitCode
from automation.spec.markers import Service, Step, marker_name

MAX_FREE_HOPS = 5  # leader hints and verifications followed without using up an attempt


class Kind(StrEnum):
    ATTEMPT = "attempt"  # a failure: uses up one of the attempts
    HOP = "hop"  # re-routed (leader hint) or verifying: free, at most MAX_FREE_HOPS in a row
    BUSY = "busy"  # no quorum / change in flight / 503: free, bounded by the deadline only


@dataclass(frozen=True)
class Retry:
    """One attempt did not finish the join, and why."""

    cause: str
    kind: Kind
    delay: float | None = None  # None: the backoff policy decides
    detail: str | None = None  # e.g. the TLS error naming the CA, for the final line


def run_join(ctx: Context, service: Service, join_cfg: JoinConfig, prerequisite: Service | None = None) -> ExitCode:
    log = ctx.log.bind(service=service.value, operation="cluster-join")
    done = _marker_present(ctx, service, log)
    if done is not None:
        return done
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
        ctx.markers.write(name)
        log.info("Bootstrap node: the Raft cluster forms from initial_peers; no join request sent", marker=name)
        return ExitCode.OK
    return Joiner(ctx, service, join_cfg, log).run()


def _require_joined(ctx: Context, prerequisite: Service, log: Logger) -> None:
    names = [marker_name(prerequisite, step) for step in (Step.INITIALIZED, Step.JOINED)]
    if any(ctx.markers.read(name).present for name in names):
        return
    cause = f"{prerequisite.value} not joined yet"
    log.error(f"Waiting for {prerequisite.value}: no {' or '.join(names)} marker yet; systemd retries", cause=cause)
    failure = StepFailed(f"{cause}: no {' or '.join(names)} in {ctx.markers.directory}", cause=cause)
    failure.logged = True
    raise failure


def _marker_present(ctx: Context, service: Service, log: Logger) -> ExitCode | None:
    for step in (Step.INITIALIZED, Step.JOINED):
        state = ctx.markers.read(marker_name(service, step))
        if state.present:
            log.info(
                "Node already member of cluster (marker present); nothing to do",
                marker=state.name,
                since=state.timestamp.isoformat() if state.timestamp else None,
                marker_status=state.status.value,
            )
            return ExitCode.ALREADY_DONE
        if state.status.value == "corrupt":
            log.warn("Marker corrupt; not trusted, verifying membership again", marker=state.name, detail=state.detail)
    return None


class Joiner:
    def __init__(self, ctx: Context, service: Service, cfg: JoinConfig, log: Logger) -> None:
        self.ctx = ctx
        self.service = service
        self.cfg = cfg
        self.log = log
        self.node_id = ctx.config.node_id
        self.raft_addr = ctx.config.service_raft_addr(service)
        self.finder = LeaderFinder(ctx.config, service, log)
        self.deadline = Deadline.start(cfg.deadline_s, ctx.clock)
        self.backoff = join_backoff(cfg, self.deadline)
        self.added_by_us = False  # a 201 seen, or an add sent whose answer was lost
        self.saw_409 = False

    def run(self) -> ExitCode:
        attempts = 0
        free_hops = 0
        last_cause = "no attempt made"
        last_detail: str | None = None
        self.log.info("Joining cluster", policy=self.backoff.describe, raft_addr=self.raft_addr)
        # Bounded by attempts, the deadline and the free-hop cap; the range is a backstop.
        for _ in range(10_000):
            url = self.finder.next()
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
            if outcome.delay:
                self.deadline.sleep(outcome.delay)
        said = f"{last_cause} ({last_detail})" if last_detail else last_cause
        self.log.error(
            f"Join failed after {attempts} attempts in {self.deadline.elapsed():.1f}s: {said}",
            cause=last_cause,
            detail=last_detail,
            attempt=attempts,
            elapsed_s=round(self.deadline.elapsed(), 3),
        )
        raise JoinFailed(f"join {self.service.value} failed after {attempts} attempts: {said}", cause=last_cause)

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
            return Retry(f"HTTP {reply.status} from {url}/admin/members", Kind.ATTEMPT)
        view = parse_view(reply)
        if view is None:
            return Retry(f"unreadable member list from {url}: {reply.excerpt(80)}", Kind.ATTEMPT)
        listed = self._check_listed(view)
        if listed is not None:
            return listed
        if view.leader_url and base_url(view.leader_url) != url:
            self.finder.learn(base_url(view.leader_url))
            return Retry("not the leader", Kind.HOP)
        if view.has_quorum is False:
            self.log.warn("Waiting: the cluster reports no quorum; not adding a member now", leader_url=url)
            return Retry("no quorum", Kind.BUSY, delay=self.backoff.delay(attempt))
        if view.change_in_flight:
            self.log.info("Waiting: another membership change is in flight", leader_url=url)
            return Retry("membership change in flight", Kind.BUSY, delay=self.backoff.delay(attempt))
        return self._add(url, attempt)

    def _check_listed(self, view: MemberView) -> ExitCode | None:
        ours = view.find(self.node_id)
        other = view.by_addr(self.raft_addr)
        if ours is None and other is None:
            return None
        if ours is None or ours.raft_addr != self.raft_addr or (other is not None and other.id != self.node_id):
            self._conflict(ours.raft_addr if ours else None, other.id if other else None)
        self.ctx.failpoints.hit("join.after-verify")
        name = marker_name(self.service, Step.JOINED)
        self.ctx.markers.write(name)
        if self.added_by_us:
            self.log.info("Successfully joined cluster", marker=name, elapsed_s=round(self.deadline.elapsed(), 3))
            return ExitCode.OK
        message = "Node already member of cluster (HTTP 409)" if self.saw_409 else "Node already member of cluster"
        self.log.warn(message, marker=name, raft_addr=self.raft_addr)
        return ExitCode.ALREADY_DONE

    def _conflict(self, listed_addr: str | None, addr_owner: str | None) -> None:
        if listed_addr is not None and listed_addr != self.raft_addr:
            detail = (
                f"{self.node_id} is listed with raft_addr {listed_addr}, "
                f"but this node is configured with {self.raft_addr}"
            )
        else:
            detail = f"raft_addr {self.raft_addr} is already used by member {addr_owner}"
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
            return Retry("verifying membership", Kind.HOP, delay=0)
        if reply.status == 409:
            self.saw_409 = True
            member = parse_member(reply.json_object().get("member"))
            if member is not None and (member.id != self.node_id or member.raft_addr != self.raft_addr):
                self._conflict(member.raft_addr if member.id == self.node_id else None, member.id)
            return Retry("verifying membership after HTTP 409", Kind.HOP, delay=0)
        redirected = self._redirect(reply, url)
        if redirected:
            return redirected
        if reply.status == 503:
            cause = str(reply.json_object().get("error") or "service unavailable")
            self.log.info(f"Waiting: leader answered 503 ({cause})", **context)
            return Retry(
                cause, Kind.BUSY, delay=retry_after(reply.headers.get("retry-after"), self.backoff.delay(attempt))
            )
        if 400 <= reply.status < 500:
            cause = f"rejected: HTTP {reply.status} {reply.excerpt(120)}"
            self.log.error("Join request rejected", cause=cause, **context)
            raise JoinFailed(f"join {self.service.value}: leader {url} {cause}", cause=cause)
        self.log.error(f"Join request failed: HTTP {reply.status}", body=reply.excerpt(120), **context)
        return Retry(f"HTTP {reply.status} from {url}", Kind.ATTEMPT)

    def _redirect(self, reply: Response, url: str) -> Retry | None:
        if reply.status not in (301, 302, 307, 308, 421):
            return None
        hint = leader_hint(reply)
        if hint and hint != url:
            self.finder.learn(hint)
            return Retry("not the leader", Kind.HOP)
        self.finder.forget()
        return Retry(f"{url} is not the leader and named no leader", Kind.ATTEMPT)

    def _transport_failure(self, url: str, err: TransportError, attempt: int) -> Retry:
        self.log.error(
            "Join request failed: connection error",
            cause=err.cause,
            detail=str(err),
            attempt=attempt,
            leader_url=url,
            elapsed_s=round(self.deadline.elapsed(), 3),
        )
        self.finder.forget()
        return Retry(err.cause, Kind.ATTEMPT, detail=str(err))
