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
- An add that was accepted (or may have been) but that the list does not show is read again
  with the join's backoff, and sent again at most once per attempt (`join.max_attempts` adds),
  never sooner than that backoff: a leader that answers 201 but never lists us gets a few adds,
  not four a second until the deadline.
- A member list whose members are not member objects, or whose `service` is not a string, is
  a bad answer (its candidate is set aside), not a list that lacks us.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from automation.context import Context
from automation.discovery import MIN_GAP_S, LeaderFinder, foreign_list, leader_hint, leaderless, newer_leader
from automation.errors import FbaError, JoinFailed, MembershipConflict, StepFailed
from automation.health import wait_healthy
from automation.http import Response, TransportError
from automation.log import Logger
from automation.markers import MarkerState, Ownership
from automation.markertrust import Trust, check_marker, identity_for
from automation.membership import (
    BadMemberList,
    Member,
    MemberView,
    Proof,
    judge,
    parse_member,
    parse_view,
    read_view,
)
from automation.policy import Deadline, join_policy
from automation.retry import Outcome, Try, Verdict, classify, classify_error, done, run
from automation.spec.causes import MAYBE_DELIVERED, Cause
from automation.spec.config import JoinConfig
from automation.spec.exitcodes import ExitCode
from automation.spec.markers import Service, Step, foreign_name, marker_name
from automation.spec.urls import names_us
from automation.steplock import step_lock

Retry = Outcome[ExitCode]  # one attempt that did not finish the join, and why (automation.retry)


def run_join(ctx: Context, service: Service, join_cfg: JoinConfig, prerequisite: Service | None = None) -> ExitCode:
    log = ctx.log.bind(service=service.value, operation="cluster-join")
    # One join (or leave) of this service at a time on this node, from its first marker read to
    # its marker write; the wait counts against the join's deadline (automation.steplock).
    deadline = Deadline.start(join_cfg.deadline_s, ctx.clock)
    try:
        with step_lock(ctx.markers, service, deadline, log) as waited:
            if waited:
                join_cfg = join_cfg.model_copy(update={"deadline_s": deadline.remaining()})
            return _run_join_locked(ctx, service, join_cfg, prerequisite, log)
    except FbaError as err:
        log.failure(err)  # with this service and operation (`Logger.failure`)
        raise


def _run_join_locked(
    ctx: Context, service: Service, join_cfg: JoinConfig, prerequisite: Service | None, log: Logger
) -> ExitCode:
    # One deadline for the whole join, as `--deadline` and `join.deadline_s` promise: the health
    # wait used to have its own and the join a fresh one after it (break 9, F8: `--deadline 6`
    # ran 11.5 s and said "in 6.0s").
    deadline = Deadline.start(join_cfg.deadline_s, ctx.clock)
    if trusted_marker(ctx, service, join_cfg, log) is not None:
        return ExitCode.ALREADY_DONE
    if prerequisite is not None:
        _require_joined(ctx, prerequisite, join_cfg, deadline, log)
    cfg = ctx.config
    # The marker this join ends by writing is checked now, before any request changes the cluster.
    warning = ctx.markers.ensure_directory(marker_name(service, Step.INITIALIZED if cfg.bootstrap else Step.JOINED))
    if warning:
        log.warn(warning)
    health_url = ctx.config.local_api_url(service) + cfg.endpoint(service).health_path
    budget = min(cfg.health.timeout_s, deadline.remaining())
    wait_healthy(health_url, http=ctx.http, cfg=cfg.health, deadline=Deadline.start(budget, ctx.clock), log=log)
    if cfg.bootstrap:
        _refuse_if_cluster_exists(ctx, service, join_cfg, deadline, log)
        name = marker_name(service, Step.INITIALIZED)
        ctx.markers.write(name, identity_for(cfg, service))
        log.info("Bootstrap node: the Raft cluster forms from initial_peers; no join request sent", marker=name)
        return ExitCode.OK
    return Joiner(ctx, service, join_cfg, log, deadline=deadline).run()


def _refuse_if_cluster_exists(
    ctx: Context, service: Service, join_cfg: JoinConfig, deadline: Deadline, log: Logger
) -> None:
    """Before a bootstrap node forms its cluster: nobody it is configured to know about (its
    `leader_url`, the other `initial_peers`, `discovery`) already runs one that does not list it.

    `bootstrap: true` on a node whose cluster is up (a template copied from the first node, a
    re-installed member) formed a second cluster beside it, every step exit 0, no request to
    anyone (break 10, G8: etcd's `--initial-cluster-state new` against a live cluster; kubeadm's
    preflight refuses `init` where a control plane answers). Each candidate is asked once for its
    member list, within about two request timeouts of the join's deadline. Only a settled fact
    vetoes: a list of this service with members, none of them this node. A peer that does not
    answer, answers an error, no list or an empty one is a cluster not formed yet (the first
    node of a new cluster has nobody to ask): it vetoes nothing, so a first bootstrap never waits
    for its peers. A list that names this node is the cluster this node forms (or already did).

    A list that names this node but whose cluster our own service is not part of (it leads a
    cluster of its own: `own_service_elsewhere`) is the second cluster all the same.

    Raises:
        MembershipConflict: exit 3, cause "cluster already exists", or "own service in another
            cluster" (break 11, H7); no marker is written."""
    finder = LeaderFinder(ctx.config, service, log, ctx.clock, terms=ctx.terms)
    budget = Deadline.start(min(deadline.remaining(), 2 * join_cfg.request_timeout_s), ctx.clock)
    me = identity_for(ctx.config, service)
    checked_own = False
    for url in finder.candidates():
        if budget.expired():
            break
        try:
            reply = ctx.http.request("GET", f"{url}/admin/members", timeout=budget.cap(join_cfg.request_timeout_s))
        except TransportError as err:
            log.debug("Bootstrap check: no answer", leader_url=url, cause=err.cause.value)
            continue
        view = parse_view(reply) if reply.ok else None
        if view is None or not view.members or foreign_list(ctx.config, service, view, ctx.terms, url):
            continue
        if judge(view, me.node_id, me.raft_addr).verdict in (Proof.PROVEN, Proof.PENDING):
            # This node's cluster (a conflict, our id or address under other values, is not),
            # unless our own service runs a cluster of its own beside it: a re-imaged member
            # started with a fresh bootstrap while the cluster still lists its old incarnation
            # (break 11, H7). Judged once, against a settled list that names its leader.
            if view.leader_url is None or view.unsettled() or checked_own:
                continue
            checked_own = True
            elsewhere = own_service_elsewhere(ctx, service, finder, url, view, budget.cap(join_cfg.request_timeout_s))
            if elsewhere is None:
                continue
            message = (
                f"{elsewhere}; refusing to bootstrap a second cluster. Remove this node's old member from the "
                f"cluster (fba leave --service {service.value} --member {me.node_id}, run on another node), wipe "
                "this node's data and start it with bootstrap: false to join"
            )
            log.error(message, cause=Cause.OWN_SERVICE_IN_ANOTHER_CLUSTER.value, leader_url=url)
            raise MembershipConflict(message)
        leader = f", leader {view.leader_url}" if view.leader_url else ""
        ids = ", ".join(m.id for m in view.members)
        message = (
            f"A {service.value} cluster already answers at {url} (members: {ids:.200}{leader:.120}) and does not "
            f"list this node ({me.node_id}); refusing to bootstrap a second cluster. Set bootstrap: false to join "
            "it, or point leader_url and initial_peers at the new cluster's nodes"
        )
        log.error(message, cause=Cause.CLUSTER_EXISTS.value, leader_url=url)
        raise MembershipConflict(message)


def own_service_elsewhere(
    ctx: Context, service: Service, finder: LeaderFinder, url: str, cluster: MemberView, timeout: float
) -> str | None:
    """Why this node's own service is in another cluster than `cluster` (the settled list read
    from `url`), or None. Read from its `/health` (the contract's Health names role, leader,
    term and members, as a list does): our own API is never asked for `/admin/*`. An answer we
    cannot read vetoes nothing (the health wait saw it up). Its view is never proof, but a fair
    veto, and a witness of a later term (`LeaderFinder.saw_own`).

    Another cluster is either
    - a leader the cluster's list does not hold (break 9, F2: a joiner started as a bootstrap
      node follows itself, or a leader of another cluster); or
    - this node leading a cluster of its own (no other member of `cluster` in its view) while
      `cluster` is led by another node and holds other members: a re-imaged node started with
      `--initial-cluster-state new` beside the cluster that still lists its old incarnation, so
      its id IS in the list (break 11, H7: a bootstrap node wrote `initialized`, exit 0)."""
    own = ctx.config.local_api_url(service)
    health = own + ctx.config.endpoint(service).health_path
    try:
        reply = ctx.http.request("GET", health, timeout=timeout)
    except TransportError:
        return None
    body = reply.json_object() if reply.ok else {}
    leader = body.get("leader")
    leader_id = leader.get("id") if isinstance(leader, dict) else leader
    if not isinstance(leader_id, str) or not leader_id:
        return None
    view = parse_view(reply) if reply.ok else None
    me = ctx.config.node_id
    listed = body.get("members")
    ids = [m.get("id") for m in listed if isinstance(m, dict)] if isinstance(listed, list) else []
    members = ", ".join(i for i in ids if isinstance(i, str)) or "none"
    said = (
        f"This node's own {service.value} ({own}) is in another cluster: it names leader {leader_id!a:.80} "
        f"(members: {members:.200})"
    )
    if cluster.find(leader_id) is None:
        return f"{said}, which the cluster's leader {url} does not list"
    if view is not None:
        finder.saw_own(view, cluster)
    led_by_us = leader_id == me  # by id: the Health names its node, and a leader by its id first
    cluster_leader = cluster.leader_id or ""
    others_led = (
        cluster.peers_of(me)
        and cluster_leader != me
        and not (cluster.leader_url is not None and finder.is_own(cluster.leader_url))
    )
    alone = not any(m != me and cluster.find(m) is not None for m in ids if isinstance(m, str))
    if led_by_us and others_led and alone:
        return (
            f"{said}: a cluster of its own, led by this node, beside the cluster at {url} (leader "
            f"{cluster.leader_url or cluster_leader!a:.120}, term {cluster.term}), which holds other members"
        )
    return None


def _require_joined(ctx: Context, prerequisite: Service, join_cfg: JoinConfig, deadline: Deadline, log: Logger) -> None:
    """`--require-joined`: the prerequisite's marker, trusted by the join's own rule
    (`trusted_marker`): one naming this node at once; one naming another node only once the
    prerequisite's leader confirms it (break 12, K14); one naming nobody also when no leader
    answers (a reboot must not depend on the leader; accepted with a WARN). A marker the leader
    refutes is set aside and does not count: flaredb's join added a cloned node whose chainfire
    join had just been refused, exit 0 (break 10, G5). The check runs under the prerequisite's
    step lock (its join may be running)."""
    names = [marker_name(prerequisite, step) for step in (Step.INITIALIZED, Step.JOINED)]
    me = identity_for(ctx.config, prerequisite)
    state = _marker_present(ctx, prerequisite)
    if state is not None and state.ownership(me) is not Ownership.OURS:
        plog = log.bind(service=prerequisite.value, operation="cluster-join")
        with step_lock(ctx.markers, prerequisite, deadline, plog):
            state = trusted_marker(ctx, prerequisite, join_cfg, plog)
        if state is not None and state.ownership(me) is not Ownership.OURS:
            log.warn(
                f"{prerequisite.value}'s marker {state.name} {state.written_for(me)}; accepted as no "
                f"{prerequisite.value} leader refutes it",
                marker=state.name,
                ownership=state.ownership(me).value,
            )
    if state is not None:
        return
    cause = Cause.PREREQUISITE_MISSING
    aside = [foreign_name(name) for name in names if ctx.markers.exists(foreign_name(name))]
    refuted = f" ({', '.join(aside)}: another node's marker, refuted by the leader)" if aside else ""
    log.error(
        f"Waiting for {prerequisite.value}: no {' or '.join(names)} marker yet{refuted}; systemd retries",
        cause=cause.value,
        prerequisite=prerequisite.value,
    )
    failure = StepFailed(
        f"{prerequisite.value} not joined yet: no {' or '.join(names)} in {ctx.markers.directory}{refuted}",
        cause=cause,
    )
    failure.logged = True
    raise failure


def trusted_marker(ctx: Context, service: Service, join_cfg: JoinConfig, log: Logger) -> MarkerState | None:
    """The step's marker that may be trusted, by the one rule (`markertrust.check_marker`), or
    None. Each present marker is judged in turn (this node's mode's first): one the leader
    refutes is set aside, and the other is judged too (a clone may carry both), so no refuted
    marker is left in place for a reader that looks at presence alone."""
    seen: set[str] = set()
    for _ in range(2):  # the step's two markers; one set aside is not read again
        state = _marker_present(ctx, service)
        if state is None or state.name in seen:
            return None
        seen.add(state.name)
        if check_marker(ctx, service, state, join_cfg, log) is Trust.TRUSTED:
            return state
    return None


def _marker_present(ctx: Context, service: Service) -> MarkerState | None:
    """The step's marker, the one this node's mode writes looked at first: a joiner cloned from
    a bootstrap node's disk carries that node's `initialized` marker, which was verified into a
    marker of ours, re-stamped with our identity and the other node's date (break 9, F10)."""
    own = Step.INITIALIZED if ctx.config.bootstrap else Step.JOINED
    for step in (own, Step.JOINED if own is Step.INITIALIZED else Step.INITIALIZED):
        state = ctx.markers.read(marker_name(service, step))
        if state.present:
            return state
        if state.status.value == "corrupt":
            ctx.log.bind(service=service.value, operation="cluster-join").warn(
                "Marker corrupt; not trusted, verifying membership again", marker=state.name, detail=state.detail
            )
    return None


def _pending_detail(detail: str) -> str:
    """The judgement's reasons, without repeating the cause's own words."""
    return detail.removeprefix(Cause.LISTED_NOT_COMMITTED.value + ": ")


class Joiner:
    def __init__(
        self, ctx: Context, service: Service, cfg: JoinConfig, log: Logger, *, deadline: Deadline | None = None
    ) -> None:
        """`deadline`: the whole join's (started before the health wait); a fresh one of
        `cfg.deadline_s` when None."""
        self.ctx = ctx
        self.service = service
        self.cfg = cfg
        self.log = log
        self.node_id = ctx.config.node_id
        self.raft_addr = ctx.config.service_raft_addr(service)
        self.finder = LeaderFinder(ctx.config, service, log, ctx.clock, terms=ctx.terms)
        self.deadline = deadline if deadline is not None else Deadline.start(cfg.deadline_s, ctx.clock)
        self.policy = join_policy(cfg)
        self.added_by_us = False  # a 201 seen, or an add sent whose answer was lost
        self.add_accepted = False  # a 2xx to our add seen (not merely an answer lost)
        self.saw_409 = False
        self.adds = 0  # adds that took or may have taken effect (201, our own 409, answer lost)
        self.add_again_at = 0.0  # monotonic time before which no add is sent again
        self.verify_reads = 0  # reads since the first such add that did not list us

    def run(self) -> ExitCode:
        self.log.info("Joining cluster", policy=self.policy.describe, raft_addr=self.raft_addr)
        last: Retry | None = None

        def step(t: Try) -> Retry:
            nonlocal last
            url = self.finder.take(self.deadline, may_end=last is not None)
            if url is None:  # nobody can be asked before the deadline: the last answer says why
                return last or Outcome(Verdict.BUSY, Cause.CANDIDATES_SET_ASIDE, "every candidate")
            outcome = self._attempt(url, Try(t.number, t.attempt, self.deadline.cap(self.policy.request_timeout_s)))
            if isinstance(outcome, ExitCode):
                return done(outcome)
            if outcome.verdict is not Verdict.HOP:
                self.finder.end_chain()
            last = outcome
            return outcome

        return run(
            step,
            policy=self.policy,
            deadline=self.deadline,
            log=self.log,
            what=f"Join {self.service.value}",
            failure=JoinFailed,
        )

    def _set_aside(self, url: str, cause: Cause, reply: Response | None = None) -> None:
        """`reply`: its Retry-After bounds how soon `url` is asked again (that peer, not the step)."""
        self.finder.set_aside(
            url, cause.value, base_s=self.cfg.retry_delay_s, cap_s=self.cfg.max_retry_delay_s, reply=reply
        )

    # One attempt: read the list, maybe add, and let the next read verify.

    def _attempt(self, url: str, t: Try) -> ExitCode | Retry:
        try:
            reply = self.ctx.http.request("GET", f"{url}/admin/members", timeout=t.timeout)
        except TransportError as err:
            failed = self._transport_failure(url, err, t.attempt)
            if self.added_by_us and failed.verdict is Verdict.ATTEMPT:
                # An add was taken (or may have been): what is left is reading it back, bounded by
                # the deadline, not by attempts; a leader that hangs after its 201 used them up
                # and the join ended "headers timed out" for a node that was a member (break 8).
                detail = f"add accepted, membership not read back yet: {failed.detail}"
                return replace(failed, verdict=Verdict.BUSY, cause=Cause.VERIFYING, detail=detail, delay=0)
            return failed
        redirected = self._redirect(reply, url)
        if redirected:
            return redirected
        if not reply.ok:
            no_leader = leaderless(reply)
            if no_leader is not None:
                # An election or a lost quorum (Consul's 500 "No cluster leader", etcd's "no
                # leader"): later, and maybe elsewhere; it must not use up the attempts.
                self.log.warn(f"Waiting: {url} reports {no_leader.value}; trying the other candidates", leader_url=url)
                self._set_aside(url, no_leader, reply)
                detail = f"HTTP {reply.status} from {url}/admin/members: {reply.excerpt(120)}"
                return Outcome(Verdict.BUSY, no_leader, detail, delay=0, http_code=reply.status)
            outcome = classify(reply, clock=self.ctx.clock, method="GET").failure()
            if outcome.verdict is Verdict.PERMANENT:
                # A "never" from one candidate's member list (404 from an older build, 403 from an
                # auth proxy in front of one node) says that candidate cannot help, not that the
                # cluster refuses us: it ended the whole join, on every restart, before the leader
                # was asked (break 9, F17). Set it aside and try the others, using an attempt.
                outcome = replace(outcome, verdict=Verdict.ATTEMPT)
            if outcome.verdict is Verdict.ATTEMPT:
                self._set_aside(url, outcome.cause)
            return self._answer(outcome, url, t.attempt)
        try:
            view = read_view(reply)
        except BadMemberList as bad:
            self.log.warn(f"Leader candidate {url} answered a bad member list; not using it", detail=str(bad))
            self._set_aside(url, Cause.BAD_RESPONSE)
            return Outcome(Verdict.ATTEMPT, Cause.BAD_RESPONSE, f"{url}/admin/members: {bad}")
        if view is None:
            self._set_aside(url, Cause.UNREADABLE_MEMBER_LIST)
            return Outcome(Verdict.ATTEMPT, Cause.UNREADABLE_MEMBER_LIST, f"from {url}: {reply.excerpt(80)}")
        wrong = foreign_list(self.ctx.config, self.service, view, self.finder.terms, url, self.finder.vouched(url))
        if wrong:
            self.log.warn(f"Leader candidate {url} answered {wrong}; not using it", leader_url=url)
            self._set_aside(url, Cause.FOREIGN_MEMBER_LIST)
            return Outcome(Verdict.ATTEMPT, Cause.FOREIGN_MEMBER_LIST, f"{url} answered {wrong}")
        self.finder.saw(view, url)  # the run's term floor: a later read of an older term proves nothing
        if view.leader_url and self.finder.is_own(view.leader_url):
            return self._led_by_us(url, view)
        leader = self.finder.normalise(view.leader_url) if view.leader_url else None
        if view.leader_url and not self.finder.same_peer(leader, url):
            if leader and self.finder.learn(leader):
                return Outcome(Verdict.HOP, Cause.NOT_LEADER, f"{url} names {view.leader_url}")
            paused = self.finder.wait_for(leader) if leader else 0.0
            if leader and paused > MIN_GAP_S and not self.finder.looped:
                # The named leader failed us a moment ago and is set aside: a follower naming it
                # is right, not wrong; wait for the leader, use no attempt (break 8: each such
                # correct hint set the follower aside and used an attempt).
                self.finder.prefer(leader)
                return Outcome(Verdict.BUSY, Cause.NOT_LEADER, f"{url} names {leader}, set aside for {paused:.1f}s",
                               delay=paused)  # fmt: skip
            self._set_aside(url, Cause.NOT_LEADER)
            return Outcome(
                Verdict.ATTEMPT, Cause.NOT_LEADER, f"{url} names leader {view.leader_url}, which cannot be asked"
            )
        judgement = judge(view, self.node_id, self.raft_addr)
        if view.leader_url is None and judgement.verdict in (Proof.PROVEN, Proof.PENDING):
            # Only the leader's list proves anything: one that names no leader (null, absent, an
            # id without an api_url) is a follower's, maybe ahead of what was committed (a stale
            # follower listed us after an add the leader never committed: a marker without a
            # member, break 8). Set aside like a leaderless candidate; the others are tried. (A
            # list without us from such a peer still leads to an add there: its answer, 421 or
            # 307, names the leader, whose list is then read back.)
            cause = Cause.NO_QUORUM if view.has_quorum is False else Cause.NO_LEADER
            self.finder.warn_once(
                f"no-leader {url}",
                f"Waiting: {url} lists this node but names no leader; its list proves nothing, trying the "
                "other candidates",
                leader_url=url,
            )
            self._set_aside(url, cause)
            return Outcome(Verdict.BUSY, cause, f"{url}/admin/members lists us but names no leader", delay=0)
        if view.leader_url is not None and not view.unsettled():
            self.finder.clear(url)  # a settled leader's list: its next failure starts from the shortest pause
        if judgement.verdict is Proof.CONFLICT:
            self._conflict(judgement.detail, view.members)
        if judgement.verdict is Proof.PROVEN:
            return self._outvoted(url, view) or self._joined()
        if judgement.verdict is Proof.PENDING:
            self.log.info("Waiting: listed, but membership not proven yet", detail=judgement.detail, leader_url=url)
            self.finder.prefer(url)
            return Outcome(Verdict.BUSY, Cause.LISTED_NOT_COMMITTED, _pending_detail(judgement.detail))
        if view.no_leader or view.has_quorum is False:
            cause = Cause.NO_LEADER if view.no_leader else Cause.NO_QUORUM
            self.log.warn(f"Waiting: {url} reports {cause.value}; not adding a member there now", leader_url=url)
            self._set_aside(url, cause)
            return Outcome(Verdict.BUSY, cause, f"{url}/admin/members", delay=0)
        if view.change_in_flight:
            self.log.info("Waiting: another membership change is in flight", leader_url=url)
            self.finder.prefer(url)
            return Outcome(Verdict.BUSY, Cause.CHANGE_IN_FLIGHT, f"{url}/admin/members: change_in_flight true")
        if self.adds:
            held = self._hold_add(url, judgement.detail)
            if held is not None:
                return held
        return self._refuse_if_own_service_elsewhere(url, view) or self._add(url, t)

    def _refuse_if_own_service_elsewhere(self, url: str, cluster: MemberView) -> Retry | None:
        """Before an add: this node's own service must not already be in another cluster
        (`own_service_elsewhere`, the rule the bootstrap path applies too).

        A service started with a bootstrap configuration by mistake forms a one-node cluster of
        its own (etcd's `--initial-cluster-state new` on a joiner). Adding it to the real
        cluster gave a member that never takes part (the cluster then needs one more vote for
        quorum), while its own view (never proof, but a fair veto) named a leader the real
        cluster does not have (break 9, F2: exit 0 and a marker). Read once per add.

        The veto ends the join, so it is judged against the newest term too (`_outvoted`): a
        stale leader's list lacks a leader elected after it was cut off; then the hop (None: the
        add may go ahead).

        Raises:
            MembershipConflict: exit 3, cause "own service in another cluster"."""
        message = own_service_elsewhere(self.ctx, self.service, self.finder, url, cluster,
                                        self.deadline.cap(self.policy.request_timeout_s))  # fmt: skip
        if message is None:
            return None
        outvoted = self._outvoted(url, cluster)
        if outvoted is not None:
            return outvoted
        message += "; refusing to add it. Wipe its data and start it in join mode, then run the join again"
        self.log.error(message, cause=Cause.OWN_SERVICE_IN_ANOTHER_CLUSTER.value, leader_url=url)
        raise MembershipConflict(message)

    def _led_by_us(self, url: str, view: MemberView) -> ExitCode | Retry:
        """A peer's list names this node as the leader: after its add, this node won an election
        (CI, S6: the leader that took node04's add was crashed, and node04 won the next one; its
        join, refusing every list that named its own API, ran to its deadline, and again on every
        restart). Our own API is still never asked (its list proves nothing: it may be a cluster
        of its own); the peer's list proves it when it lists us, settled: only a member can win
        an election in the peer's cluster. Anything less is waited for; the peer is asked again."""
        if not view.peers_of(self.node_id):
            # No peer's list: our own service answered at `url` (a load balancer that picked
            # us, a wildcard listener), and its list proves nothing (break 10, G4).
            detail = (
                f"{url} answered a list naming this node the leader and no other member: that is this "
                f"node's own {self.service.value} API answering there, whose list proves nothing"
            )
            self.finder.warn_once(f"own-list {url}", f"Ignoring leader candidate: {detail}", leader_url=url)
            self._set_aside(url, Cause.NOT_LEADER)
            return Outcome(Verdict.ATTEMPT, Cause.NOT_LEADER, detail)
        judgement = judge(view, self.node_id, self.raft_addr)
        if judgement.verdict is Proof.CONFLICT:
            self._conflict(judgement.detail, view.members)
        if judgement.verdict is Proof.PROVEN:
            outvoted = self._outvoted(url, view)
            if outvoted is not None:
                return outvoted
            self.log.info("This node is the leader now, as the list of a peer says", leader_url=url)
            return self._joined()
        detail = (
            f"{url} names this node's own {self.service.value} API as the leader (never asked: its list proves "
            f"nothing), and its own list does not prove the join: {judgement.detail}"
        )
        self.finder.warn_once(f"led-by-us {url}", f"Waiting: {detail}", leader_url=url)
        self._set_aside(url, Cause.NOT_LEADER)
        return Outcome(Verdict.BUSY, Cause.NOT_LEADER, detail, delay=0)

    def _hold_add(self, url: str, absent: str) -> Retry | None:
        """An add took (or may have taken) effect, yet the list does not list us: None when the
        add may be sent again now (fewer than `join.max_attempts` adds, and the backoff since the
        last one has passed), else wait and read again, with the join's backoff. Without this a
        leader that accepts adds but never lists them got one per read, 4 a second."""
        now = self.ctx.clock.monotonic()
        if self.adds < self.policy.max_attempts and now >= self.add_again_at:
            return None
        self.verify_reads += 1
        pause = self.policy.backoff(self.verify_reads)
        if self.adds < self.policy.max_attempts:
            pause = min(pause, self.add_again_at - now)  # no later than the next add is due
        detail = f"{url}/admin/members does not list us after {self.adds} accepted add(s): {absent}"
        self.log.info(
            "Waiting: member add accepted, but the member list does not list this node yet",
            detail=detail,
            leader_url=url,
            adds=self.adds,
            pause_s=round(pause, 3),
        )
        self.finder.prefer(url)
        return Outcome(Verdict.BUSY, Cause.VERIFYING, detail, delay=pause)

    def _took(self) -> None:
        """An add took, or may have taken, effect: the next may follow only after the backoff."""
        self.adds += 1
        self.add_again_at = self.ctx.clock.monotonic() + self.policy.backoff(self.adds)

    def _outvoted(self, url: str, view: MemberView) -> Retry | None:
        """Before `url`'s list proves the join: a hop to the leader of a later term when another
        candidate names one (`discovery.newer_leader`, the rule every conclusion from a leader's
        list shares: break 9, F20; break 10, G2/G3), else None (the list stands)."""
        budget = Deadline.start(min(self.deadline.remaining(), 2 * self.policy.request_timeout_s), self.ctx.clock)
        newer = newer_leader(self.ctx.http, self.finder, url, view, budget, self.policy.request_timeout_s)
        if newer is None:
            return None
        if newer.leader is not None and self.finder.learn(newer.leader):
            return Outcome(Verdict.HOP, Cause.NOT_LEADER, f"{url}'s list is of an older term than {newer.leader}'s")
        # The later term's leader cannot be asked now (set aside), or there is none to ask but
        # `url` again (a VIP that showed term 5 and now shows an ex-leader's term 2): wait and
        # read again within the deadline, never believe the older list meanwhile (break 11, H1).
        self._set_aside(url, Cause.NOT_LEADER)
        return Outcome(Verdict.BUSY, Cause.NOT_LEADER, newer.detail(url, view), delay=0)

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

    def _conflict(self, detail: str, members: Sequence[Member] = ()) -> None:
        """Exit 3. Before any add of ours, nothing was added; after one was accepted (or may have
        been), the list holds this run's member beside the conflicting one, and the message
        says so: "refusing to add a duplicate" there told the operator the cluster was unchanged
        while it had one more voter (break 12, K6: a twin node_id added between our read and
        our add; a leader that lower-cases ids). `members`: the list (or 409 member) it is in."""
        if not self.added_by_us:
            message = (
                f"Membership conflict: {detail}; refusing to add a duplicate. "
                "Fix raft_addr/node_id or remove the stale member (fba leave --member)"
            )
            self.log.error(message, cause=Cause.MEMBERSHIP_CONFLICT.value)
            raise MembershipConflict(message)
        mine = self.node_id.casefold()
        folded = sorted({m.id for m in members if m.id != self.node_id and m.id.casefold() == mine})
        if folded:
            advice = (
                f"the leader lists this node's id as {', '.join(folded)} (the ids differ only in case: the leader "
                f"compares them without case); set node_id to {folded[0]} and run the join again"
            )
        else:
            advice = (
                f"one entry is this run's (id {self.node_id}, raft_addr {self.raft_addr}); give the other node that "
                "uses this id (a cloned config or image) its own node_id, and remove the extra entry through the "
                "leader by its Raft address (fba leave --member cannot tell entries with the same id apart)"
            )
        if self.add_accepted:
            how, changed = "was accepted", "This run added a member, so the cluster changed"
        else:
            how, changed = "was sent (its answer lost)", "The cluster may hold a member this run added"
        message = f"Membership conflict after this run's member add {how}: {detail}. {changed}; {advice}"
        self.log.error(message, cause=Cause.MEMBERSHIP_CONFLICT.value, added_by_this_run=True)
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
                self._took()
            return self._transport_failure(url, err, t.attempt)
        context = {"attempt": t.attempt, "http_code": reply.status, "leader_url": url}
        if reply.ok:
            # Any 2xx (the contract's 201, a 200, a bodiless 204, a 202 still applying it): the
            # add was taken, and only the member list read next proves it (kind E).
            self.added_by_us = self.add_accepted = True
            self._took()
            self.log.info("Member add accepted; verifying membership", **context)
            self.ctx.failpoints.hit("join.after-add")
            self.finder.prefer(url)  # the final read comes from the leader that took the add
            return Outcome(Verdict.HOP, Cause.VERIFYING, f"HTTP {reply.status} from {url}", delay=0)
        if reply.status == 409:
            self.saw_409 = True
            member = parse_member(reply.json_object().get("member"))
            if (
                member is not None
                and member.id == self.node_id
                and not names_us(member.raft_addr, self.node_id, self.raft_addr)
            ):
                self._conflict(
                    f"{self.node_id} is listed with raft_addr {member.raft_addr}, "
                    f"but this node is configured with {self.raft_addr}"
                )
            if member is not None and member.id != self.node_id:
                self._conflict(f"raft_addr {self.raft_addr} is already used by member {member.id}", (member,))
            self._took()
            self.finder.prefer(url)
            return Outcome(Verdict.HOP, Cause.VERIFYING, f"HTTP 409 from {url}", delay=0)
        redirected = self._redirect(reply, url)
        if redirected:
            return redirected
        no_leader = leaderless(reply)
        if no_leader is not None:
            # A leader stepping down answers the add "no leader" (503, maybe a long Retry-After):
            # that peer waits its Retry-After, the step does not; the new leader is elsewhere
            # (break 8: 30 s idle with the new leader up after 2 s, or the step ended at once).
            self.log.warn(
                f"Waiting: {url} answered the add with {no_leader.value}; trying the other candidates",
                leader_url=url,
                http_code=reply.status,
            )
            self._set_aside(url, no_leader, reply)
            return Outcome(Verdict.BUSY, no_leader, f"HTTP {reply.status} from POST {url}/admin/member/add", delay=0)
        outcome = classify(reply, clock=self.ctx.clock, method="POST").failure()
        if outcome.verdict is Verdict.TRANSIENT:
            self.finder.prefer(url)  # "later" from the leader: ask it again, after its Retry-After
        elif outcome.verdict is Verdict.ATTEMPT:
            self._set_aside(url, outcome.cause)
        return self._answer(outcome, url, t.attempt)

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
        if hint and not self.finder.same_peer(self.finder.normalise(hint), url) and self.finder.learn(hint):
            return Outcome(Verdict.HOP, Cause.NOT_LEADER, f"HTTP {reply.status} from {url} names {hint}")
        self._set_aside(url, Cause.NOT_LEADER)
        return Outcome(
            Verdict.ATTEMPT,
            Cause.NOT_LEADER,
            f"{url} is not the leader and named no leader that may be asked",
            http_code=reply.status,
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
        self._set_aside(url, err.cause)
        return classify_error(err).failure()
