"""`fba health-report`: one JSON summary of the cluster as this node sees it.

Checks local and peer health of every service, that this node is listed by chainfire and
flaredb, and flags members that are listed but do not answer (added, never came up: the
etcd failure that blocks quorum). Optionally POSTs the summary to `notify_url` (bounded
retries) and writes Prometheus textfile metrics.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from automation.context import Context
from automation.http import TransportError
from automation.log import Logger
from automation.markers import write_atomic
from automation.membership import parse_view
from automation.policy import Deadline, notify_backoff
from automation.spec.exitcodes import ExitCode
from automation.spec.markers import JOIN_SERVICES, Service
from automation.spec.units import FIXED_BUDGETS

REQUEST_TIMEOUT_S = 3.0
# One budget for all checks and one for the webhook: the unit's TimeoutStartSec and start limit
# are computed from them (automation/spec/startlimits.py), whatever the number of peers.
CHECKS_BUDGET_S = FIXED_BUDGETS["report.checks_s"]
NOTIFY_BUDGET_S = FIXED_BUDGETS["report.notify_s"]


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def run_health_report(ctx: Context) -> ExitCode:
    log = ctx.log.bind(service="cluster", operation="health-report")
    checks = collect(ctx)
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
        _notify(ctx, summary, log)
    return ExitCode.HEALTHY if healthy else ExitCode.UNHEALTHY


def collect(ctx: Context) -> list[Check]:
    cfg = ctx.config
    deadline = Deadline.start(CHECKS_BUDGET_S, ctx.clock)
    checks: list[Check] = []
    for service in Service:
        endpoint = cfg.endpoint(service)
        local = cfg.local_api_url(service)
        checks.append(_health(ctx, deadline, f"{service.value}:local", local + endpoint.health_path))
        for peer in _peer_urls(ctx, service):
            name = f"{service.value}:peer:{urlsplit(peer).hostname}"
            checks.append(_health(ctx, deadline, name, peer + endpoint.health_path))
    for service in JOIN_SERVICES:
        checks.extend(_membership(ctx, deadline, service))
    return checks


def _spent(deadline: Deadline, url: str) -> str:
    return f"{url}: not checked, the report's {deadline.budget_s:g}s budget for all checks was spent"


def _peer_urls(ctx: Context, service: Service) -> list[str]:
    cfg = ctx.config
    own_hosts = {cfg.host, "127.0.0.1", "localhost", cfg.node_id}
    source = Service.CHAINFIRE if service is Service.IAM else service
    port = cfg.endpoint(service).api_port
    urls = []
    for url in cfg.peer_api_urls(source):
        host = urlsplit(url).hostname or ""
        if host not in own_hosts:
            urls.append(f"{urlsplit(url).scheme}://{host}:{port}")
    return list(dict.fromkeys(urls))


def _health(ctx: Context, deadline: Deadline, name: str, url: str) -> Check:
    if deadline.expired():
        return Check(name, False, _spent(deadline, url))
    try:
        reply = ctx.http.request("GET", url, timeout=deadline.cap(REQUEST_TIMEOUT_S))
    except TransportError as err:
        return Check(name, False, f"{url}: {err.cause}")
    return Check(name, reply.ok, f"{url}: HTTP {reply.status}")


def _membership(ctx: Context, deadline: Deadline, service: Service) -> list[Check]:
    url = ctx.config.local_api_url(service) + "/admin/members"
    if deadline.expired():
        return [Check(f"{service.value}:member", False, _spent(deadline, url))]
    try:
        reply = ctx.http.request("GET", url, timeout=deadline.cap(REQUEST_TIMEOUT_S))
    except TransportError as err:
        return [Check(f"{service.value}:member", False, f"{url}: {err.cause}")]
    view = parse_view(reply) if reply.ok else None
    if view is None:
        return [Check(f"{service.value}:member", False, f"{url}: HTTP {reply.status}, no member list")]
    me = view.find(ctx.config.node_id)
    checks = [
        Check(
            f"{service.value}:member",
            me is not None,
            f"listed as {me.raft_addr}" if me else f"{ctx.config.node_id} not in {[m.id for m in view.members]}",
        )
    ]
    if view.has_quorum is False:
        checks.append(Check(f"{service.value}:quorum", False, "the local member reports no quorum"))
    for member in view.members:
        if member.id == ctx.config.node_id or not member.api_url:
            continue
        probe = _health(ctx, deadline, member.id, member.api_url.rstrip("/") + ctx.config.endpoint(service).health_path)
        if not probe.ok:
            checks.append(
                Check(
                    f"stale-member:{service.value}:{member.id}",
                    False,
                    f"listed with {member.raft_addr} but not answering ({probe.detail}); if it never came up, "
                    f"remove it: fba leave --service {service.value} --member {member.id}",
                )
            )
    return checks


def _write_metrics(path: Path, checks: list[Check], healthy: bool, log: Logger) -> None:
    lines = [
        "# HELP fba_cluster_healthy 1 when every first-boot health check passed.",
        "# TYPE fba_cluster_healthy gauge",
        f"fba_cluster_healthy {int(healthy)}",
        "# HELP fba_check_ok 1 when the named check passed.",
        "# TYPE fba_check_ok gauge",
    ]
    lines += [f'fba_check_ok{{check="{c.name}"}} {int(c.ok)}' for c in checks]
    try:
        write_atomic(path, ("\n".join(lines) + "\n").encode("utf-8"), mode=0o644)
    except Exception as err:
        log.warn("Could not write Prometheus textfile", path=str(path), error=str(err))


def _notify(ctx: Context, summary: dict[str, Any], log: Logger) -> None:
    url = ctx.config.notify_url or ""
    headers = {}
    if ctx.config.notify_token:
        log.redactor.add(ctx.config.notify_token)
        headers["Authorization"] = f"Bearer {ctx.config.notify_token.get_secret_value()}"
    deadline = Deadline.start(NOTIFY_BUDGET_S, ctx.clock)
    backoff = notify_backoff(ctx.config.notify_attempts, deadline)
    last = "no attempt"
    for attempt in range(1, ctx.config.notify_attempts + 1):
        try:
            reply = ctx.http.request("POST", url, body=summary, headers=headers, timeout=deadline.cap(10.0))
        except TransportError as err:
            last = err.cause
        else:
            if reply.ok:
                log.info("Health summary sent", url=url, http_code=reply.status, attempt=attempt)
                return
            last = f"HTTP {reply.status}"
        if backoff.should_stop(attempt):
            break
        deadline.sleep(backoff.delay(attempt))
    log.warn("Could not send the health summary", url=url, cause=last)
