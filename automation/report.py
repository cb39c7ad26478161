"""`fba health-report`: one JSON summary of the cluster as this node sees it.

Checks local and peer health of every service, that this node is listed by chainfire's and
flaredb's leaders (the leader's list, found as the join finds it: this node's own service may
list it, a one-node cluster of its own, and proves nothing), that this node's own list agrees
with the leader's, and flags members that are listed but do not answer (added, never came up:
the etcd failure that blocks quorum). Optionally POSTs the summary to `notify_url` (bounded
retries) and writes Prometheus textfile metrics.

One budget (`REPORT_BUDGET_S`, the README's "one 60 s budget for all of it") covers every
probe and the notification: with a `notify_url` the probes stop `NOTIFY_RESERVE_S` before its
end, and the notify has what is left. The unit's TimeoutStartSec and start limit are computed
from it (automation/spec/startlimits.py), whatever the number of peers. Each probe's whole request
gets at most `REQUEST_TIMEOUT_S` and never more than the time left, so peers that trickle
their answers cannot stretch a report. A probe the budget left unmade, or cut short, is
"not checked" (`Check.checked`): unknown, neither passed nor failed, so the report is not
healthy, but what was not asked is never called failed, stale, or something to remove.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from automation import pathroles
from automation.context import Context
from automation.discovery import LeaderFinder, base_url, foreign_list, newer_leader, same_peer
from automation.errors import StepFailed
from automation.http import Response, TransportError
from automation.log import Logger
from automation.markers import write_atomic
from automation.membership import Member, MemberView, Proof, judge, parse_view
from automation.policy import Deadline, notify_policy
from automation.retry import GiveUp, Outcome, Try, fetch, run
from automation.spec.config import ClusterConfig, with_port
from automation.spec.exitcodes import ExitCode
from automation.spec.markers import JOIN_SERVICES, Service, is_node_id
from automation.spec.units import FIXED_BUDGETS, WRITABLE_HINT
from automation.spec.urls import credential_free, host_problem, is_unspecified, raised_scheme, redacted, url_problem

REQUEST_TIMEOUT_S = 3.0
REPORT_BUDGET_S = FIXED_BUDGETS["report.budget_s"]
# The notify's share of the budget when there is a summary to send: a few attempts of
# `notify_policy`, so that checks that use all their time still leave the summary a chance.
NOTIFY_RESERVE_S = 15.0


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    # False: the report's budget ran out before this check was made, or while it was being made
    # (`ok` is then False: not verified). Reported in a state of its own, "not_checked": calling
    # it a failure listed healthy members that were never probed as stale, with the advice to
    # remove them, in the text, the webhook's `stale_members` and the textfile (break 11, H9).
    checked: bool = True

    @property
    def state(self) -> str:
        return "ok" if self.ok else "failed" if self.checked else NOT_CHECKED

    def as_json(self) -> dict[str, Any]:
        """The summary's entry: `state` says what `checked` would (one field for readers)."""
        return {"name": self.name, "ok": self.ok, "detail": self.detail, "state": self.state}


NOT_CHECKED = "not_checked"


def run_health_report(ctx: Context) -> ExitCode:
    log = ctx.log.bind(service="cluster", operation="health-report")
    # One deadline for the whole report (break 9: checks 60 s, then the notify up to 60 s more).
    budget = Deadline.start(REPORT_BUDGET_S, ctx.clock)
    reserve = NOTIFY_RESERVE_S if ctx.config.notify_url else 0.0
    checks = collect(ctx, budget.sub(REPORT_BUDGET_S - reserve))
    if ctx.config.prometheus_textfile:
        # Written before the verdict: metrics the operator asked for that cannot be written (a
        # directory the units' ProtectSystem=strict leaves read-only) are a failed check, not a
        # WARN under "Cluster healthy" and exit 0 (break 12, K13).
        problem = _write_metrics(ctx, Path(ctx.config.prometheus_textfile), checks, all(c.ok for c in checks), log)
        if problem is not None:
            checks.append(Check("metrics", False, problem))
    stale = [c.name for c in checks if c.name.startswith("stale-member:")]
    failed = [c.name for c in checks if c.state == "failed"]
    unchecked = [c.name for c in checks if c.state == NOT_CHECKED]
    healthy = all(c.ok for c in checks)  # a check not made is not verified: not healthy
    summary: dict[str, Any] = {
        "node_id": ctx.config.node_id,
        "cluster_name": ctx.config.cluster_name,
        "healthy": healthy,
        "failed": failed,
        "not_checked": unchecked,
        "stale_members": stale,
        "checks": [c.as_json() for c in checks],
    }
    # Checks not made are said apart from failed ones (break 11, H9): unknown is not degraded.
    unmade = f"{len(unchecked)} checks not made within the report's budget" if unchecked else ""
    if healthy:
        log.info("Cluster healthy", summary=summary)
    elif failed:
        log.warn("Cluster degraded" + (f" ({unmade})" if unmade else ""), summary=summary)
    else:
        log.warn(f"Cluster health unknown: {unmade}", summary=summary)
    if ctx.config.notify_url:
        _notify(ctx, summary, log, budget)  # what is left: the reserve, less a last probe's overrun
    return ExitCode.HEALTHY if healthy else ExitCode.UNHEALTHY


def collect(ctx: Context, deadline: Deadline) -> list[Check]:
    cfg = ctx.config
    probe = _Probe(ctx, deadline)
    checks: list[Check] = []
    for service in Service:
        endpoint = cfg.endpoint(service)
        local = cfg.local_api_url(service)
        checks.append(probe.health(f"{service.value}:local", local + endpoint.health_path))
        for peer in _peer_urls(ctx, service):
            checks.append(probe.health(f"{service.value}:peer:{urlsplit(peer).hostname}", peer + endpoint.health_path))
    for service in JOIN_SERVICES:
        checks.extend(probe.membership(service))
    return checks


def _peer_urls(ctx: Context, service: Service) -> list[str]:
    cfg = ctx.config
    source = Service.CHAINFIRE if service is Service.IAM else service
    port = cfg.endpoint(service).api_port
    urls = []
    for url in cfg.peer_api_urls(source):
        peer = with_port(url, port)
        if not cfg.is_own_api(service, peer):  # the one rule for "this node's own API"
            # never below the configuration's scheme (kind D): no clear-text probe under TLS
            urls.append(raised_scheme(peer, cfg.scheme))
    return list(dict.fromkeys(urls))


class _Probe:
    """Single requests sharing the report's deadline; a probe past it is a failed check."""

    def __init__(self, ctx: Context, deadline: Deadline) -> None:
        self.ctx = ctx
        self.deadline = deadline
        # Requests the budget left unmade or cut short so far: a conclusion drawn while this
        # grew rests on a question not asked (`membership`).
        self.unmade = 0

    def get(self, url: str) -> tuple[int, bytes | None, str]:
        """(status, body, detail); status 0 when there was no answer. A request not made, or cut
        short, because the budget ran out counts in `unmade` and says "not checked"."""
        spent = f"the report's {self.deadline.budget_s:g}s budget for all checks was spent"
        if self.deadline.expired():
            self.unmade += 1
            return 0, None, f"{redacted(url)}: not checked, {spent}"
        timeout = self.deadline.cap(REQUEST_TIMEOUT_S)
        try:
            reply = self.ctx.http.request("GET", url, timeout=timeout)
        except TransportError as err:
            if timeout < REQUEST_TIMEOUT_S and self.deadline.expired():
                # Given less than a probe's time and out of budget during it: a peer that
                # answers in 1 s was not asked fairly in 0.2 s. Unknown, not "not answering".
                self.unmade += 1
                return (
                    0,
                    None,
                    f"{redacted(url)}: not checked, cut short after {timeout:.1f}s ({err.cause.value}): {spent}",
                )
            return 0, None, f"{redacted(url)}: {err.cause.value}"
        # Every detail names the URL without `user:password@`: a member's api_url is a peer's
        # word and may carry them (the summary is logged and sent to notify_url).
        return reply.status, reply.body, f"{redacted(url)}: HTTP {reply.status}"

    def health(self, name: str, url: str) -> Check:
        before = self.unmade
        status, _, detail = self.get(url)
        return Check(name, 200 <= status < 300, detail, checked=self.unmade == before)

    def member_list(self, service: Service, api: str) -> tuple[MemberView | None, str]:
        """`service`'s member list as `api` answers it (None and why not when it does not)."""
        url = api + "/admin/members"
        status, body, detail = self.get(url)
        view = parse_view(Response(status, {}, body or b"", url)) if 200 <= status < 300 else None
        if view is None:
            return None, f"{detail}, no member list" if status else detail
        wrong = foreign_list(self.ctx.config, service, view, self.ctx.terms, api)
        if wrong:
            return None, f"{url} answered {wrong}"
        return view, url

    def leader_list(
        self, service: Service, finder: LeaderFinder, local: MemberView | None = None
    ) -> tuple[MemberView | None, str]:
        """The leader's list, as the join reads it (automation.join): asked of the configured
        candidates (never this node's own API), following a list's `leader` once. A peer's
        list that names this node as the leader counts too (only a member wins an election in
        the peer's cluster). One request each, within the report's budget: (None, why) when
        no candidate gave the leader's list. Then the rule every conclusion from a leader's
        list shares (`_newest`): a stale leader's list is not the cluster's."""
        missed: list[str] = []
        for candidate in finder.candidates():
            view, said = self.member_list(service, candidate)
            if view is not None:
                finder.saw(view, candidate)  # the run's term floor (`discovery.TermFloor`)
            if view is not None and view.leader_url and finder.is_own(view.leader_url):
                if view.peers_of(self.ctx.config.node_id):
                    said = f"{said}, which names this node the leader"
                    return self._newest(service, finder, candidate, view, said, local)
                # Our own service answering there (`MemberView.peers_of`): no peer's list.
                missed.append(f"{said} lists only this node, as its leader: this node's own API answering there")
                continue
            leader = finder.normalise(view.leader_url) if view is not None and view.leader_url else None
            source = candidate
            if view is not None and leader is not None and not same_peer(leader, candidate):
                view, said = self.member_list(service, leader)
                source = leader
                if view is not None:
                    finder.saw(view, leader)
                named = finder.normalise(view.leader_url) if view is not None and view.leader_url else None
                if view is not None and not same_peer(named, leader):
                    said = f"{said} names leader {view.leader_url}, not itself"
                    view = None
            elif view is not None and leader is None:
                view, said = None, f"{said} names no leader"
            if view is not None:
                return self._newest(service, finder, source, view, said, local)
            missed.append(said)
        return None, "; ".join(missed) or "no peer configured"

    def _newest(
        self, service: Service, finder: LeaderFinder, url: str, view: MemberView, said: str, local: MemberView | None
    ) -> tuple[MemberView | None, str]:
        """`view` (read from `url`), unless another candidate, this node's own list `local` (a
        witness, never proof) or an earlier read names a leader of a later term
        (`discovery.newer_leader`, as the join, the marker check and the leave judge): then that
        leader's own list, or none. A leader cut off from the others still names itself, claims
        quorum and lists what was true in its term (break 10, G2: "Cluster healthy" from the
        list of term 3, while the leader of term 9 did not list this node). Within two request
        timeouts of the report's budget."""
        finder.saw_own(local, view)  # our own list: a witness of a later term, never proof (break 11, H6)
        unasked: list[str] = []
        newer = newer_leader(self.ctx.http, finder, url, view, self.deadline.sub(2 * REQUEST_TIMEOUT_S),
                             REQUEST_TIMEOUT_S, unasked)  # fmt: skip
        if newer is None and unasked:
            # Whether a later term leads was not asked of them: the list's conclusion rests on a
            # question the budget left unmade, so it is not checked (as H9's unprobed members).
            self.unmade += 1
            shown = ", ".join(redacted(u) for u in unasked[:3]) + (" ..." if len(unasked) > 3 else "")
            return view, f"{said}; not asked whether a later term leads: {shown}, the report's budget was spent"
        if newer is None:
            return view, said
        # The later term's leader, or `url` once more when there is none other to ask (the same
        # peer, or this node): its list stands only if it is of that term at least.
        leader = newer.leader or url
        later, later_said = self.member_list(service, leader)
        named = finder.normalise(later.leader_url) if later is not None and later.leader_url else None
        if later is not None and same_peer(named, leader) and (later.term is None or later.term >= newer.term):
            return later, later_said
        stale = f"{said} is of term {view.term}, but {newer.witness} names leader "
        stale += f"{newer.leader} in term {newer.term}" if newer.leader else f"in term {newer.term} (read again)"
        return None, f"{stale}, whose own list was not read ({later_said})"

    def membership(self, service: Service) -> list[Check]:
        """This node's membership as the leader's list says (the join's rule: our own service
        may list us, a one-node cluster of its own, but only the leader's list proves a join),
        and whether our own service's list agrees with it (break 9: a split-brain node whose
        own chainfire and flaredb each listed it was reported healthy, no peer asked)."""
        cfg = self.ctx.config
        before = self.unmade
        local, local_said = self.member_list(service, cfg.local_api_url(service))
        local_checked = self.unmade == before
        finder = LeaderFinder(cfg, service, self.ctx.log.bind(service=service.value, operation="health-report"),
                              self.ctx.clock, terms=self.ctx.terms)  # fmt: skip
        whose = "the leader's list"
        before = self.unmade
        view, said = self.leader_list(service, finder, local)
        leader_checked = self.unmade == before
        if view is None and cfg.bootstrap and not _peer_urls(self.ctx, service):
            # A one-node cluster by its configuration, and nobody else configured (leader_url,
            # discovery) answers for a cluster: our own list is the cluster's, named as ours. The
            # configured cluster, when it answers, is asked first: a node bootstrapped beside it
            # by mistake was "healthy" from its own list, called "the leader's" (break 10, G8).
            view, said, whose = local, local_said, "this node's own list: a one-node cluster, no other peer answers"
        if view is None and not leader_checked:
            # A candidate the budget left unasked might have given the leader's list: unknown.
            why = f"not checked: no leader's member list before the report's budget ran out ({said})"
            return [Check(f"{service.value}:member", False, why, checked=False)]
        if view is None:
            why = f"no leader's member list ({said}); this node's own list proves nothing"
            return [Check(f"{service.value}:member", False, why)]
        # A change in flight (another node joining right now) is a moment, not this node's
        # health: the report is run once per boot, and a unit failed for that moment stays
        # failed. Quorum and the leader, which the leader's list also says, are judged.
        judgement = judge(replace(view, change_in_flight=False, committed=None), cfg.node_id,
                          cfg.service_raft_addr(service))  # fmt: skip
        ok = judgement.verdict is Proof.PROVEN
        if leader_checked:
            checks = [Check(f"{service.value}:member", ok, f"{judgement.detail} ({whose}, {said})")]
        else:
            # A list read, but a question its conclusion rests on was not asked for the budget
            # (`_newest`): unknown either way, never "ok" (a stale leader's list proves nothing).
            why = f"not checked: {judgement.detail} ({whose}, {said})"
            checks = [Check(f"{service.value}:member", False, why, checked=False)]
        if view is not local:
            # Said, not failed: the leader's list is what decides membership, and a follower
            # lags a change by a heartbeat (a just-restarted one by its recovery), so failing
            # on this made a healthy node's report fail for a moment, and its unit for the boot.
            disagreement = local_said if local is None else _disagreement(local, view, finder)
            if disagreement and local_checked:  # an own list not read for the budget disagrees with nothing
                finder.log.warn(disagreement)
        if local is not None and local.has_quorum is False:
            checks.append(Check(f"{service.value}:quorum", False, "the local member reports no quorum"))
        # The leader whose list this is answered this very report: never stale, whatever its own
        # entry advertises (a multi-homed leader registered another network's api_url, which
        # does not answer from here; the report advised removing the leader: break 12, K8).
        answered = said.partition("/admin/members")[0]  # the URL whose answer `view` is
        for member in view.members:
            if member.id == cfg.node_id:
                continue
            api, unprobed = _member_api(cfg, service, member)
            if api is None:
                probe = Check(member.id, False, unprobed)
            else:
                probe = self.health(member.id, api + cfg.endpoint(service).health_path)
            if not probe.ok and _answered_as_leader(view, member, answered):
                finder.log.warn(
                    f"{member.id} leads and answered this report at {answered}, but its listed api_url does not "
                    f"answer from here ({probe.detail})",
                    member=member.id,
                )
                continue
            if not probe.checked:
                # Never probed (or cut short) for the budget: not stale, and no advice to remove
                # it; following that advice removed healthy voters (break 11, H9).
                checks.append(
                    Check(
                        f"member:{service.value}:{member.id}",
                        False,
                        f"listed with {member.raft_addr}; whether it answers is unknown ({probe.detail})",
                        checked=False,
                    )
                )
            elif not probe.ok:
                # The id is a peer's word too: advice to run a command carries only a node id
                # (what `fba leave --member` takes), never text that would be another command.
                advice = (
                    f"remove it: fba leave --service {service.value} --member {member.id}"
                    if is_node_id(member.id)
                    else f"its id {member.id!a:.80} is not a valid node id, so fba leave cannot remove it"
                )
                checks.append(
                    Check(
                        f"stale-member:{service.value}:{member.id}",
                        False,
                        f"listed with {member.raft_addr} but not answering ({probe.detail}); if it never came up, "
                        + advice,
                    )
                )
        return checks


def _answered_as_leader(view: MemberView, member: Member, answered: str) -> bool:
    """Whether `member` is the leader of `view` and `view` was read from that leader's URL
    (`answered`): then it answered this run, at the URL its own list gives for the leader."""
    if view.leader_url is None or not same_peer(answered, view.leader_url):
        return False
    named = view.leader_id == member.id if view.leader_id is not None else False
    return named or (member.api_url is not None and same_peer(member.api_url, view.leader_url))


def _member_api(cfg: ClusterConfig, service: Service, member: Member) -> tuple[str | None, str]:
    """Where another member's health is probed: its `api_url`, or, when it has none (the docs'
    own `curl` add sends none) or names this host (`0.0.0.0`, loopback: a misadvertised
    listen address, answered by our own service), the contract's default: `raft_addr`'s host
    with the API scheme and port (standins/openapi.yaml, Member.api_url; the answering
    leader's are this cluster's configured ones). None and why when neither names another
    host: such a member cannot be checked, which is a failed check, never a skipped one
    (break 10, G14: a dead voter without `api_url` was never probed, "Cluster healthy").

    A member's api_url is a peer's word: asked no lower than the configuration's scheme
    (under TLS, never a clear-text GET because the list said http://)."""
    given = base_url(member.api_url) if member.api_url else None
    if given is not None and not _ours(cfg, service, given):  # an unusable one fails its probe, named
        return raised_scheme(given, cfg.scheme), ""
    host = member.raft_addr.rpartition(":")[0].strip("[]")
    default = f"{cfg.scheme}://{f'[{host}]' if ':' in host else host}:{cfg.endpoint(service).api_port}"
    unusable = (host_problem(host) or url_problem(default)) if host else None
    if not host or unusable is not None or _ours(cfg, service, default):
        said = f"api_url {redacted(member.api_url)!a:.120}" if member.api_url else "no api_url"
        return None, (
            f"cannot be probed: {said} and raft_addr {member.raft_addr!a:.80} name no other host to ask"
            + (f" ({unusable})" if unusable else "")
        )
    return default, ""


def _ours(cfg: ClusterConfig, service: Service, url: str) -> bool:
    """`url` lands on this node's own API: the one rule (`is_own_api`), or an unspecified host
    on any port (a listen address; nodes side by side on one host have addresses of their own)."""
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:  # a peer's word that is no URL: not ours, its probe says what it is
        return False
    return cfg.is_own_api(service, url) or is_unspecified(host)


def _disagreement(local: MemberView, leader: MemberView, finder: LeaderFinder) -> str | None:
    """Why this node's own list is not the leader's (None: it agrees): another leader, none, or
    other members. A follower that lags a change by a moment fails this check for that moment."""
    said = []
    ours, theirs = sorted(m.id for m in local.members), sorted(m.id for m in leader.members)
    if ours != theirs:
        said.append(f"it lists {ours}, the leader {theirs}")
    if local.leader_url is None:
        said.append("it names no leader")
    elif leader.leader_url is not None and not (
        (finder.is_own(local.leader_url) and finder.is_own(leader.leader_url))
        or same_peer(local.leader_url, leader.leader_url)
    ):
        said.append(f"it names leader {redacted(local.leader_url)}, the leader's list {redacted(leader.leader_url)}")
    return f"this node's own member list disagrees with the leader's: {'; '.join(said)}" if said else None


def label_value(text: str) -> str:
    """`text` as a Prometheus label value: backslash, double quote and line feed escaped, the
    three the text exposition format escapes (any other character may stand as it is). A
    check's name carries a peer's word (a member id): unescaped, `x"} 0\nfba_cluster_healthy 1`
    added a sample that called a degraded node healthy (break 9, F18)."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def metrics_text(checks: list[Check], healthy: bool) -> str:
    """The textfile: one sample per check name. Two checks of the same name (a peer's list may
    name a member twice) are one sample, failed if either failed: a duplicate sample makes the
    collector drop the whole file, every fba metric of the node with it. A check not made
    (budget) has no `fba_check_ok` sample, which would say 0, "failed": it is one
    `fba_check_not_checked` sample (unknown), unless a check of the same name failed."""
    rank = {"ok": 0, NOT_CHECKED: 1, "failed": 2}  # the worst of a name's copies stands
    by_name: dict[str, str] = {}
    for check in checks:
        by_name[check.name] = max(by_name.get(check.name, "ok"), check.state, key=rank.__getitem__)
    lines = [
        "# HELP fba_cluster_healthy 1 when every first-boot health check passed.",
        "# TYPE fba_cluster_healthy gauge",
        f"fba_cluster_healthy {int(healthy)}",
        "# HELP fba_check_ok 1 when the named check passed, 0 when it failed (a check not made has none).",
        "# TYPE fba_check_ok gauge",
    ]
    lines += [
        f'fba_check_ok{{check="{label_value(name)}"}} {int(state == "ok")}'
        for name, state in by_name.items()
        if state != NOT_CHECKED
    ]
    lines += [
        "# HELP fba_check_not_checked 1 for a check the report's budget left unmade: unknown, not failed.",
        "# TYPE fba_check_not_checked gauge",
    ]
    lines += [
        f'fba_check_not_checked{{check="{label_value(name)}"}} 1'
        for name, state in by_name.items()
        if state == NOT_CHECKED
    ]
    return "\n".join(lines) + "\n"


def _write_metrics(ctx: Context, path: Path, checks: list[Check], healthy: bool, log: Logger) -> str | None:
    """Write the textfile; None, or why it could not be written (also logged, as an ERROR)."""
    text = metrics_text(checks, healthy)
    try:
        # Checked again where the write happens: a link made since the start could now lead
        # the textfile onto the credentials, the config or a marker (`automation.pathroles`).
        pathroles.refuse_write(ctx.config, "prometheus_textfile", ctx.config_path, ctx.markers.directory)
        # The textfile path is the operator's: a symlink there stays one (markers.link_target).
        write_atomic(path, text.encode("utf-8"), mode=0o644, follow_link=True)
    except Exception as err:
        hint = ""
        cause = err if isinstance(err, OSError) else err.__cause__  # write_atomic's MarkerError wraps it
        if isinstance(cause, OSError) and cause.errno == errno.EROFS:
            hint = f"; add its directory to the units' ReadWritePaths ({WRITABLE_HINT})"
        problem = f"prometheus_textfile {path}: {err}{hint}"
        log.error("Could not write Prometheus textfile", path=str(path), error=str(err) + hint)
        return problem
    return None


def _notify(ctx: Context, summary: dict[str, Any], log: Logger, deadline: Deadline) -> None:
    url = ctx.config.notify_url or ""
    shown = credential_free(url)  # the hook's path or query can be its credential (break 12, K4)
    for secret in ctx.config.log_secrets():
        log.redactor.add(secret)
    headers = {}
    if ctx.config.notify_token:
        headers["Authorization"] = f"Bearer {ctx.config.notify_token.get_secret_value()}"

    def step(t: Try) -> Outcome[Response]:
        return fetch(ctx.http, "POST", url, t, clock=ctx.clock, body=summary, headers=headers)

    def give_up(gave_up: GiveUp) -> StepFailed:
        # A summary that could not be sent does not change the verdict on the cluster: WARN.
        log.warn("Could not send the health summary", url=shown, **gave_up.context(), last=gave_up.said)
        return StepFailed(f"notify {shown}: {gave_up.said}", cause=gave_up.cause)

    try:
        reply = run(
            step,
            policy=notify_policy(ctx.config.notify_attempts),
            deadline=deadline,
            log=log,
            what="Notify",
            on_give_up=give_up,
        )
    except StepFailed:
        return
    log.info("Health summary sent", url=shown, http_code=reply.status)
