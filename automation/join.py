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

from automation.context import Context
from automation.discovery import LeaderFinder, base_url, leader_hint
from automation.errors import JoinFailed, MembershipConflict, StepFailed
from automation.health import wait_healthy
from automation.http import Response, TransportError
from automation.log import Logger
from automation.membership import MemberView, parse_member, parse_view
from automation.policy import Deadline, join_policy
from automation.retry import Outcome, Try, Verdict, classify, classify_error, done, run
from automation.spec.causes import MAYBE_DELIVERED, Cause
from automation.spec.config import JoinConfig
from automation.spec.exitcodes import ExitCode
from automation.spec.markers import Service, Step, marker_name

Retry = Outcome[ExitCode]  # one attempt that did not finish the join, and why (automation.retry)


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
    cause = Cause.PREREQUISITE_MISSING
    log.error(
        f"Waiting for {prerequisite.value}: no {' or '.join(names)} marker yet; systemd retries",
        cause=cause.value,
        prerequisite=prerequisite.value,
    )
    failure = StepFailed(
        f"{prerequisite.value} not joined yet: no {' or '.join(names)} in {ctx.markers.directory}", cause=cause
    )
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
        self.policy = join_policy(cfg)
        self.added_by_us = False  # a 201 seen, or an add sent whose answer was lost
        self.saw_409 = False

    def run(self) -> ExitCode:
        self.log.info("Joining cluster", policy=self.policy.describe, raft_addr=self.raft_addr)

        def step(t: Try) -> Retry:
            outcome = self._attempt(self.finder.next(), t)
            return done(outcome) if isinstance(outcome, ExitCode) else outcome

        return run(
            step,
            policy=self.policy,
            deadline=self.deadline,
            log=self.log,
            what=f"Join {self.service.value}",
            failure=JoinFailed,
        )

    # One attempt: read the list, maybe add, and let the next read verify.

    def _attempt(self, url: str, t: Try) -> ExitCode | Retry:
        try:
            reply = self.ctx.http.request("GET", f"{url}/admin/members", timeout=t.timeout)
        except TransportError as err:
            return self._transport_failure(url, err, t.attempt)
        redirected = self._redirect(reply, url)
        if redirected:
            return redirected
        if not reply.ok:
            return self._answer(classify(reply, clock=self.ctx.clock, method="GET").failure(), url, t.attempt)
        view = parse_view(reply)
        if view is None:
            return Outcome(Verdict.ATTEMPT, Cause.UNREADABLE_MEMBER_LIST, f"from {url}: {reply.excerpt(80)}")
        listed = self._check_listed(view)
        if listed is not None:
            return listed
        if view.leader_url and base_url(view.leader_url) != url:
            self.finder.learn(base_url(view.leader_url))
            return Outcome(Verdict.HOP, Cause.NOT_LEADER, f"{url} names {view.leader_url}")
        if view.has_quorum is False:
            self.log.warn("Waiting: the cluster reports no quorum; not adding a member now", leader_url=url)
            return Outcome(Verdict.BUSY, Cause.NO_QUORUM, f"{url}/admin/members: has_quorum false")
        if view.change_in_flight:
            self.log.info("Waiting: another membership change is in flight", leader_url=url)
            return Outcome(Verdict.BUSY, Cause.CHANGE_IN_FLIGHT, f"{url}/admin/members: change_in_flight true")
        return self._add(url, t)

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
        self.log.error(message, cause=Cause.MEMBERSHIP_CONFLICT.value)
        raise MembershipConflict(message)

    def _add(self, url: str, t: Try) -> Retry:
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
            if err.cause in MAYBE_DELIVERED:
                self.added_by_us = True  # it may have committed; the next read tells
            return self._transport_failure(url, err, t.attempt)
        context = {"attempt": t.attempt, "http_code": reply.status, "leader_url": url}
        if reply.status in (200, 201):
            self.added_by_us = True
            self.log.info("Member add accepted; verifying membership", **context)
            self.ctx.failpoints.hit("join.after-add")
            return Outcome(Verdict.HOP, Cause.VERIFYING, f"HTTP {reply.status} from {url}", delay=0)
        if reply.status == 409:
            self.saw_409 = True
            member = parse_member(reply.json_object().get("member"))
            if member is not None and (member.id != self.node_id or member.raft_addr != self.raft_addr):
                self._conflict(member.raft_addr if member.id == self.node_id else None, member.id)
            return Outcome(Verdict.HOP, Cause.VERIFYING, f"HTTP 409 from {url}", delay=0)
        redirected = self._redirect(reply, url)
        if redirected:
            return redirected
        return self._answer(classify(reply, clock=self.ctx.clock, method="POST").failure(), url, t.attempt)

    def _answer(self, outcome: Retry, url: str, attempt: int) -> Retry:
        """Log an answer the shared table classified (automation.spec.http_status)."""
        context = {"attempt": attempt, "http_code": outcome.http_code, "leader_url": url}
        if outcome.verdict is Verdict.TRANSIENT:
            return outcome  # the engine logs the wait, with the Retry-After it honours
        if outcome.verdict is Verdict.PERMANENT:
            self.log.error("Join request rejected", cause=outcome.cause.value, detail=outcome.detail, **context)
        else:
            self.log.error(f"Join request failed: HTTP {outcome.http_code}", detail=outcome.detail, **context)
        return outcome

    def _redirect(self, reply: Response, url: str) -> Retry | None:
        if reply.status not in (301, 302, 307, 308, 421):
            return None
        hint = leader_hint(reply)
        if hint and hint != url:
            self.finder.learn(hint)
            return Outcome(Verdict.HOP, Cause.NOT_LEADER, f"HTTP {reply.status} from {url} names {hint}")
        self.finder.forget()
        return Outcome(
            Verdict.ATTEMPT, Cause.NOT_LEADER, f"{url} is not the leader and named no leader", http_code=reply.status
        )

    def _transport_failure(self, url: str, err: TransportError, attempt: int) -> Retry:
        self.log.error(
            "Join request failed: connection error",
            cause=err.cause.value,
            detail=str(err),
            attempt=attempt,
            leader_url=url,
            elapsed_s=round(self.deadline.elapsed(), 3),
        )
        self.finder.forget()
        return classify_error(err).failure()
