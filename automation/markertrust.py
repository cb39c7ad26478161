"""Whether a marker found on disk may be trusted by this node (kind F).

A marker names the node it was written for (node id, cluster name, Raft address). One that
names this node is trusted without a request: a reboot never depends on the leader. One that
names another node (a cloned disk, a renamed node) or nobody (the design's manual
`date -Iseconds > marker`, or a marker from fba before identities) is verified once against
the leader's member list:
- listed there, settled: trusted, and re-written with this node's identity (same timestamp);
- listed but not settled: a marker naming nobody is trusted for now (WARN), not re-written; one
  naming another node is not (the join waits for a settled list: break 12, K14);
- not listed, or listed under another address, by a settled list: not trusted, and set aside
  (`<marker>.foreign`, kept for the operator) so that nothing that looks for the marker's
  presence (`--require-joined`, `status`) counts it as done any more (break 10, G5: the join
  refuted it, failed, and flaredb's join took it as chainfire's); the join runs and joins this
  node as itself (a clone becomes a new member, a conflict is named);
- no leader answered within the check's budget (or none could say): a marker naming nobody is
  trusted, with a WARN (a reboot never depends on the leader); one naming another node, cluster
  or Raft address is not (it is not from this node's earlier boot: break 12, K14): kept as it is,
  and the join runs as this node (exit 1 if no leader answers in time; systemd retries).
A leader's list whose Raft `term` is older than another candidate names, or than a list read
earlier in the run showed, is no answer either way (`discovery.newer_leader`, break 10, G2;
break 11, H1): the later term's leader is asked instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from automation.context import Context
from automation.discovery import LeaderFinder, foreign_list, leader_hint, newer_leader
from automation.errors import MarkerError
from automation.http import TransportError
from automation.log import Logger
from automation.markers import MarkerState, Ownership
from automation.membership import Judgement, MemberView, Proof, judge, parse_view
from automation.policy import Deadline
from automation.spec.config import ClusterConfig, JoinConfig
from automation.spec.markers import MarkerIdentity, Service, foreign_name

MAX_HOPS = 3  # leader hints followed by the one-off check


def identity_for(config: ClusterConfig, service: Service) -> MarkerIdentity:
    """Whom this node's markers for `service` are written for."""
    return MarkerIdentity(config.node_id, config.cluster_name, config.service_raft_addr(service))


class Trust(StrEnum):
    TRUSTED = "trusted"
    REJOIN = "rejoin"


@dataclass(frozen=True)
class LeaderAnswer:
    url: str
    judgement: Judgement
    leader_is_us: bool = False  # `url`'s list names this node's own API as the leader
    # `url` answered this node's own list: only us, naming us the leader (`MemberView.peers_of`):
    # it leads to our own service (a load balancer, a wildcard listener). No proof of anything.
    own_api: bool = False


def check_marker(ctx: Context, service: Service, state: MarkerState, join_cfg: JoinConfig, log: Logger) -> Trust:
    me = identity_for(ctx.config, service)
    ownership = state.ownership(me)
    since = state.timestamp.isoformat() if state.timestamp else None
    if ownership is Ownership.OURS:
        log.info(
            "Node already member of cluster (marker present); nothing to do",
            marker=state.name,
            since=since,
            marker_status=state.status.value,
        )
        return Trust.TRUSTED
    whom = state.written_for(me)
    log.info(f"Marker {state.name} {whom}; verifying it once against the leader's member list", marker=state.name)
    answer = ask_leader(ctx, service, join_cfg, log, me)
    if answer is not None and answer.own_api:
        log.warn(
            f"{answer.url} answered this node's own member list (only this node, as its leader): it leads to "
            f"this node's own {service.value} API, whose list proves nothing",
            leader_url=answer.url,
        )
        answer = None  # nobody else was asked: as when no leader answers
    if answer is None and ownership is Ownership.FOREIGN:
        # A marker naming another node, cluster or Raft address (a cloned disk) is not from this
        # node's earlier boot, so "a reboot must not depend on the leader" is not about it: only a
        # leader's list naming this node could make the step done (break 12, K14: it was trusted
        # on the clone's first boot while the rack powered on, exit 2, never joined). Kept as it is
        # (nobody refuted it); the join runs as this node and fails if no leader answers in time.
        log.warn(
            f"Marker {state.name} {whom}: not this node's; not trusted without a leader's word, and no "
            f"leader answered: joining as {me.describe()}",
            marker=state.name,
            since=since,
            ownership=ownership.value,
        )
        return Trust.REJOIN
    if answer is None:
        log.warn(
            f"Marker {state.name} {whom}, and no leader could confirm it; trusting it "
            "(a reboot must not depend on the leader; the next start checks again)",
            marker=state.name,
            since=since,
            ownership=ownership.value,
        )
        return Trust.TRUSTED
    verdict = answer.judgement.verdict
    if verdict is Proof.PROVEN:
        try:
            ctx.markers.write(state.name, me, timestamp_line=state.timestamp_line or None)
        except MarkerError as err:
            # The leader confirmed the membership; only the marker's identity could not be
            # updated (a read-only state dir): the step is done all the same, as with our own
            # marker there (break 8: exit 1 here, exit 2 when no leader answered).
            log.warn(
                f"Node already member of cluster (marker verified by the leader), but the marker could not "
                f"be re-written with this node's identity: {err.message}",
                marker=state.name,
                leader_url=answer.url,
            )
            return Trust.TRUSTED
        log.info(
            "Node already member of cluster (marker verified by the leader; re-written with this node's identity)",
            marker=state.name,
            since=since,
            leader_url=answer.url,
        )
        return Trust.TRUSTED
    if verdict is Proof.PENDING and ownership is Ownership.FOREIGN:
        # Listed but not settled proves nothing yet, and the marker is not this node's: the
        # join waits for a settled list as any join does, and writes our own marker then
        # (break 12, K14). Kept as it is: the leader does not refute it either.
        log.warn(
            f"Marker {state.name} {whom}: not this node's; the leader lists this node but "
            f"{answer.judgement.detail}: joining as {me.describe()} (waiting for a settled list)",
            marker=state.name,
            leader_url=answer.url,
            ownership=ownership.value,
        )
        return Trust.REJOIN
    if verdict is Proof.PENDING:
        log.warn(
            f"Marker {state.name} {whom}; the leader lists this node but {answer.judgement.detail}; "
            "trusting it for now (not re-written)",
            marker=state.name,
            leader_url=answer.url,
        )
        return Trust.TRUSTED
    aside = foreign_name(state.name)
    try:
        ctx.markers.rename(state.name, aside)
        kept = f"set aside as {aside}"
    except MarkerError as err:
        # The verdict stands (every reader checks with this function); only the file stays.
        kept = f"could not be set aside ({err.message})"
    log.warn(
        f"Marker {state.name} {whom}, and the leader does not confirm it ({answer.judgement.detail}); "
        f"not trusted, {kept}: joining as {me.describe()}",
        marker=state.name,
        leader_url=answer.url,
        ownership=ownership.value,
    )
    return Trust.REJOIN


def ask_leader(
    ctx: Context, service: Service, join_cfg: JoinConfig, log: Logger, me: MarkerIdentity
) -> LeaderAnswer | None:
    """One pass over the candidates (plus a few hints) within about two request timeouts:
    the first settled answer from a leader (a list that names itself as the leader), or None.
    The marker check and `fba leave` of this node (before its DELETE) both judge with it."""
    deadline = Deadline.start(min(join_cfg.deadline_s, 2 * join_cfg.request_timeout_s), ctx.clock)
    finder = LeaderFinder(ctx.config, service, log, ctx.clock, terms=ctx.terms)
    asked: set[str] = set()
    own: LeaderAnswer | None = None
    if not finder.candidates():
        return None  # nobody but ourselves to ask (a bootstrap node's own leader_url): no leader answers
    budget = len(finder.candidates()) + MAX_HOPS
    for _ in range(budget):
        if deadline.expired():
            break
        url = finder.next()
        if url in asked and finder.hint != url:
            break  # every candidate asked once
        asked.add(url)
        deadline.sleep(finder.wait_for(url))
        finder.asked(url)
        try:
            reply = ctx.http.request("GET", f"{url}/admin/members", timeout=deadline.cap(join_cfg.request_timeout_s))
        except TransportError as err:
            log.debug("Marker check: no answer", leader_url=url, cause=err.cause)
            finder.forget()
            continue
        view = parse_view(reply) if reply.ok else None
        if view is None:
            if not finder.learn(leader_hint(reply)):
                finder.forget()
            continue
        if foreign_list(ctx.config, service, view, finder.terms, url, finder.vouched(url)):
            finder.forget()
            continue
        finder.saw(view, url)  # the run's term floor (`discovery.TermFloor`)
        if view.leader_url and finder.is_own(view.leader_url):
            # A peer names this node as the leader: its list, if it lists us settled, is the
            # proof (as for the join, `Joiner._led_by_us`); our own API is never asked.
            named = judge(view, me.node_id, me.raft_addr)
            if not view.peers_of(me.node_id):  # our own service answering at `url` (break 10, G4)
                own = own or LeaderAnswer(url, named, own_api=True)  # said only if no leader answers
                finder.forget()
                continue
            if named.verdict is Proof.PROVEN and not _outvoted(ctx, finder, url, view, deadline, join_cfg):
                return LeaderAnswer(url, named, leader_is_us=True)
            finder.forget()
            continue
        leader = finder.normalise(view.leader_url) if view.leader_url else None
        if view.leader_url and not finder.same_peer(leader, url):
            # A list naming another leader is no proof, also when that leader cannot be asked
            # (this node's own API, an unusable URL): then it proves nothing at all.
            if not leader or not finder.learn(leader):
                finder.forget()
            continue
        if view.leader_url is None:
            finder.forget()
            continue  # a list that names no leader is a follower's: it proves nothing
        judgement = judge(view, me.node_id, me.raft_addr)
        if judgement.verdict is Proof.ABSENT and view.unsettled():
            finder.forget()
            continue  # a cluster that cannot commit cannot say we are not a member
        if _outvoted(ctx, finder, url, view, deadline, join_cfg):
            continue  # the later term's leader is asked next (within the check's budget)
        return LeaderAnswer(url, judgement)
    return own


def _outvoted(
    ctx: Context, finder: LeaderFinder, url: str, view: MemberView, deadline: Deadline, join_cfg: JoinConfig
) -> bool:
    """Whether another candidate names a leader of a later term than `url`'s list
    (`discovery.newer_leader`, the rule shared by every conclusion from a leader's list: a
    stale leader re-stamped a hand-written marker as ours from its old list, break 10, G2, and
    every later boot trusted it without a request). Then that leader is asked next, if it may
    be; `url`'s list is never the answer, whatever that leader says or whether it answers (no
    answer at all: the marker is trusted as it is, not re-written, and checked again next start)."""
    newer = newer_leader(ctx.http, finder, url, view, deadline.sub(2 * join_cfg.request_timeout_s),
                         join_cfg.request_timeout_s)  # fmt: skip
    if newer is None:
        return False
    if newer.leader is None or not finder.learn(newer.leader):
        finder.forget()
    return True
