"""Leader discovery (the design's "future enhancement 2").

Order of candidates: a leader hint from the last answer (307 Location, 421 body/`X-Leader-URL`,
the `leader` field of a member list), the configured leader URL, the other known peers, and
DNS SRV `_<service>._tcp.<cluster_name>` when enabled. Candidates are recomputed on every
attempt, so names are re-resolved and a new leader is found after a failover.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from automation.http import Response
from automation.log import Logger
from automation.spec.config import ClusterConfig
from automation.spec.markers import Service


def base_url(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "", "", "")).rstrip("/")


def leader_hint(reply: Response) -> str | None:
    """The leader's base URL if this answer names one."""
    if reply.status in (301, 302, 307, 308) and reply.headers.get("location"):
        return base_url(reply.headers["location"])
    header = reply.headers.get("x-leader-url")
    if header:
        return base_url(header)
    body = reply.json_object()
    for key in ("leader_url", "leader"):
        value = body.get(key)
        if isinstance(value, dict):
            value = value.get("api_url")
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            return base_url(value)
    return None


def srv_urls(service: Service, cluster_name: str, scheme: str, log: Logger) -> list[str]:
    try:
        import dns.exception
        import dns.resolver
    except ImportError:
        log.warn("DNS SRV discovery enabled but dnspython is not installed; skipping it")
        return []
    name = f"_{service.value}._tcp.{cluster_name}"
    try:
        answers: Any = dns.resolver.resolve(name, "SRV", lifetime=3.0)
    except dns.exception.DNSException as err:
        log.debug("DNS SRV lookup found nothing", name=name, error=type(err).__name__)
        return []
    records = sorted(answers, key=lambda r: (r.priority, -r.weight))
    return [f"{scheme}://{str(r.target).rstrip('.')}:{r.port}" for r in records]


@dataclass
class LeaderFinder:
    """Mutable on purpose: it remembers the latest hint across attempts of one join."""

    config: ClusterConfig
    service: Service
    log: Logger
    hint: str | None = None
    _rotation: int = field(default=0)

    def candidates(self) -> list[str]:
        urls = [self.config.leader_url_for(self.service)]
        urls += self.config.peer_api_urls(self.service)
        if self.config.discovery.dns_srv:
            scheme = urlsplit(self.config.leader_url).scheme
            urls += srv_urls(self.service, self.config.cluster_name, scheme, self.log)
        own = {self.config.advertised_api_url(self.service), self.config.local_api_url(self.service)}
        ordered = [u for u in dict.fromkeys(urls) if u not in own]
        return ordered or urls[:1]

    def next(self) -> str:
        """The hinted leader if any, else the candidates in turn."""
        if self.hint:
            return self.hint
        options = self.candidates()
        url = options[self._rotation % len(options)]
        self._rotation += 1
        return url

    def learn(self, url: str | None) -> None:
        if url and url != self.hint:
            self.log.info("Leader hint", leader_url=url)
            self.hint = url

    def forget(self) -> None:
        """The hinted leader failed us; fall back to the candidate list."""
        self.hint = None
