"""`fba health-report`: one JSON summary of the cluster as this node sees it.

Checks local and peer health of every service, that this node is listed by chainfire and
flaredb, and flags members that are listed but do not answer (added, never came up: the
etcd failure that blocks quorum). Optionally POSTs the summary to `notify_url` (bounded
retries) and writes Prometheus textfile metrics.

One budget (`CHECKS_BUDGET_S`) covers every probe, and one (`NOTIFY_BUDGET_S`) the
notification; the unit's TimeoutStartSec and start limit are computed from the two
(automation/spec/startlimits.py), whatever the number of peers. Each probe's whole request
gets at most `REQUEST_TIMEOUT_S` and never more than the time left, so peers that trickle
their answers cannot stretch a report; probes not made in time are reported as failed checks.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from automation.context import Context
from automation.discovery import base_url, foreign_list
from automation.errors import StepFailed
from automation.http import Response, TransportError
from automation.log import Logger
from automation.markers import write_atomic
from automation.membership import Proof, judge, parse_view
from automation.policy import Deadline, notify_policy
from automation.retry import GiveUp, Outcome, Try, fetch, run
from automation.spec.config import with_port
from automation.spec.exitcodes import ExitCode
from automation.spec.markers import JOIN_SERVICES, Service, is_node_id
from automation.spec.units import FIXED_BUDGETS
from automation.spec.urls import raised_scheme, redacted

REQUEST_TIMEOUT_S = 3.0
CHECKS_BUDGET_S = FIXED_BUDGETS["report.checks_s"]
NOTIFY_BUDGET_S = FIXED_BUDGETS["report.notify_s"]


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def run_health_report(ctx: Context) -> ExitCode:
    log = ctx.log.bind(service="cluster", operation="health-report")
    checks = collect(ctx, Deadline.start(CHECKS_BUDGET_S, ctx.clock))
    stale = [c.name for c in checks if c.name.startswith("stale-member:")]
    healthy = all(c.ok for c in checks)
    summary: dict[str, Any] = {
        "node_id": ctx.config.node_id,
        "cluster_name": ctx.config.cluster_name,
        "healthy": healthy,
        "failed": [c.name for c in checks if not c.ok],
        "stale_members": stale,
        "checks": [asdict(c) for c in checks],
    }
    (log.info if healthy else log.warn)("Cluster healthy" if healthy else "Cluster degraded", summary=summary)
    if ctx.config.prometheus_textfile:
        _write_metrics(Path(ctx.config.prometheus_textfile), checks, healthy, log)
    if ctx.config.notify_url:
        _notify(ctx, summary, log, Deadline.start(NOTIFY_BUDGET_S, ctx.clock))
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

    def get(self, url: str) -> tuple[int, bytes | None, str]:
        """(status, body, detail); status 0 when there was no answer."""
        if self.deadline.expired():
            spent = f"the report's {self.deadline.budget_s:g}s budget for all checks was spent"
            return 0, None, f"{redacted(url)}: not checked, {spent}"
        try:
            reply = self.ctx.http.request("GET", url, timeout=self.deadline.cap(REQUEST_TIMEOUT_S))
        except TransportError as err:
            return 0, None, f"{redacted(url)}: {err.cause.value}"
        # Every detail names the URL without `user:password@`: a member's api_url is a peer's
        # word and may carry them (the summary is logged and sent to notify_url).
        return reply.status, reply.body, f"{redacted(url)}: HTTP {reply.status}"

    def health(self, name: str, url: str) -> Check:
        status, _, detail = self.get(url)
        return Check(name, 200 <= status < 300, detail)

    def membership(self, service: Service) -> list[Check]:
        ctx = self.ctx
        url = ctx.config.local_api_url(service) + "/admin/members"
        status, body, detail = self.get(url)
        view = parse_view(Response(status, {}, body or b"", url)) if 200 <= status < 300 else None
        if view is None:
            return [Check(f"{service.value}:member", False, f"{detail}, no member list" if status else detail)]
        wrong = foreign_list(ctx.config, service, view)
        if wrong:
            return [Check(f"{service.value}:member", False, f"{url} answered {wrong}")]
        # Listed under our own Raft address, as a voter; quorum is the next check's business.
        judgement = judge(
            replace(view, has_quorum=None, change_in_flight=None, committed=None, leader_known=False),
            ctx.config.node_id,
            ctx.config.service_raft_addr(service),
        )
        checks = [Check(f"{service.value}:member", judgement.verdict is Proof.PROVEN, judgement.detail)]
        if view.has_quorum is False:
            checks.append(Check(f"{service.value}:quorum", False, "the local member reports no quorum"))
        for member in view.members:
            if member.id == ctx.config.node_id or not member.api_url:
                continue
            # A member's api_url is a peer's word: asked no lower than the configuration's scheme
            # (under TLS, never a clear-text GET because the list said http://).
            api = raised_scheme(base_url(member.api_url), ctx.config.scheme)
            probe = self.health(member.id, api + ctx.config.endpoint(service).health_path)
            if not probe.ok:
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


def label_value(text: str) -> str:
    """`text` as a Prometheus label value: backslash, double quote and line feed escaped, the
    three the text exposition format escapes (any other character may stand as it is). A
    check's name carries a peer's word (a member id): unescaped, `x"} 0\nfba_cluster_healthy 1`
    added a sample that called a degraded node healthy (break 9, F18)."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def metrics_text(checks: list[Check], healthy: bool) -> str:
    """The textfile: one sample per check name. Two checks of the same name (a peer's list may
    name a member twice) are one sample, failed if either failed: a duplicate sample makes the
    collector drop the whole file, every fba metric of the node with it."""
    by_name: dict[str, bool] = {}
    for check in checks:
        by_name[check.name] = by_name.get(check.name, True) and check.ok
    lines = [
        "# HELP fba_cluster_healthy 1 when every first-boot health check passed.",
        "# TYPE fba_cluster_healthy gauge",
        f"fba_cluster_healthy {int(healthy)}",
        "# HELP fba_check_ok 1 when the named check passed.",
        "# TYPE fba_check_ok gauge",
    ]
    lines += [f'fba_check_ok{{check="{label_value(name)}"}} {int(ok)}' for name, ok in by_name.items()]
    return "\n".join(lines) + "\n"


def _write_metrics(path: Path, checks: list[Check], healthy: bool, log: Logger) -> None:
    text = metrics_text(checks, healthy)
    try:
        # The textfile path is the operator's: a symlink there stays one (markers.link_target).
        write_atomic(path, text.encode("utf-8"), mode=0o644, follow_link=True)
    except Exception as err:
        log.warn("Could not write Prometheus textfile", path=str(path), error=str(err))


def _notify(ctx: Context, summary: dict[str, Any], log: Logger, deadline: Deadline) -> None:
    url = ctx.config.notify_url or ""
    headers = {}
    if ctx.config.notify_token:
        log.redactor.add(ctx.config.notify_token)
        headers["Authorization"] = f"Bearer {ctx.config.notify_token.get_secret_value()}"

    def step(t: Try) -> Outcome[Response]:
        return fetch(ctx.http, "POST", url, t, clock=ctx.clock, body=summary, headers=headers)

    def give_up(gave_up: GiveUp) -> StepFailed:
        # A summary that could not be sent does not change the verdict on the cluster: WARN.
        log.warn("Could not send the health summary", url=url, **gave_up.context(), last=gave_up.said)
        return StepFailed(f"notify {url}: {gave_up.said}", cause=gave_up.cause)

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
    log.info("Health summary sent", url=url, http_code=reply.status)
