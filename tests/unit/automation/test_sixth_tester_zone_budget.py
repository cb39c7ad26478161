"""Found by a sixth tester (break 11), at the unit tier: an IPv6 zone id in a URL is refused
where URLs are judged, so the validator and the transport agree (H2); a check the report's
budget left unmade is "not checked", never a failure of the thing not checked (H9)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from automation.context import Context
from automation.discovery import leader_hint
from automation.errors import ConfigError
from automation.failpoints import Failpoints
from automation.http import Response, TransportError
from automation.log import Logger
from automation.markers import MarkerStore
from automation.membership import Member
from automation.policy import Clock
from automation.report import _member_api, run_health_report
from automation.spec.causes import Cause
from automation.spec.exitcodes import ExitCode
from automation.spec.markers import Service
from automation.spec.urls import url_problem
from tests.unit.automation.worker_node import config

# H2 -----------------------------------------------------------------------------------------

ZONED = [
    "http://[fe80::1%25eth0]:2379",  # RFC 6874, what curl takes
    "http://[fe80::1%eth0]:2379",  # the zone unencoded
    "http://[fe80::1%25no-such-if]:2379",
    "http://[::1%25lo]:2379",
    "http://[::%25lo]:2379",  # an unspecified address with a zone: refused like [::]
    "http://a%2eb:2379",  # a percent-encoded name: the resolver would get it as written
]


@pytest.mark.parametrize("url", ZONED)
def test_a_percent_in_the_host_is_no_usable_url(url: str) -> None:
    problem = url_problem(url)
    assert problem is not None and "%" in problem


@pytest.mark.parametrize("url", ZONED)
@pytest.mark.parametrize(
    ("field", "place"),
    [
        ("leader_url", lambda u: {"leader_url": u}),
        ("services.flaredb.leader_url", lambda u: {"services": {"flaredb": {"leader_url": u}}}),
        ("discovery.peer_urls", lambda u: {"discovery": {"peer_urls": [u]}}),
        ("notify_url", lambda u: {"notify_url": u + "/hook"}),
    ],
)
def test_a_zone_id_in_any_url_field_is_invalid(url: str, field: str, place: Any) -> None:
    with pytest.raises(ConfigError) as caught:
        config(**place(url))
    assert any(p.startswith(field) and "zone id" in p for p in caught.value.problems), caught.value.problems


def test_a_zoned_leader_hint_is_no_hint() -> None:
    reply = Response(
        status=307,
        headers={"location": "http://[fe80::1%25eth0]:2379/admin/members"},
        body=b"",
        url="http://10.0.0.1:2379",
    )
    assert leader_hint(reply) is None


def test_a_member_whose_raft_addr_has_a_zone_says_why_it_cannot_be_probed() -> None:
    member = Member(id="n9", raft_addr="[fe80::1%eth0]:2380", api_url=None)
    url, why = _member_api(config(), Service.CHAINFIRE, member)
    assert url is None and "zone id" in why, why


def test_ipv6_without_a_zone_stays_valid() -> None:
    """A guard: a global IPv6 leader is still a URL fba asks."""
    assert url_problem("http://[2001:db8::1]:2379") is None
    config(leader_url="http://[2001:db8::1]:2379")


# H9 -----------------------------------------------------------------------------------------

HUNG = {f"n{i}" for i in range(12)}  # accept and never answer: each probe uses its whole timeout
LEADER = "10.0.0.1"


def _member_host(i: int) -> str:
    return f"10.0.2.{i + 10}"


class BudgetPeers:
    """node04's own services and the leader answer at once; members n0..n11 hang for the whole
    timeout (fake clock), n12..n39 answer `/health` 200 at once; the webhook hangs."""

    def __init__(self, now: list[float]) -> None:
        self.now = now
        self.posted: list[Any] = []
        self.hosts = {_member_host(i): f"n{i}" for i in range(40)}

    def view(self, port: int) -> dict[str, Any]:
        service = "chainfire" if port == 2379 else "flaredb"
        members = [
            {"id": "node01", "raft_addr": f"{LEADER}:{port + 1}", "api_url": f"http://{LEADER}:{port}"},
            {"id": "node04", "raft_addr": f"10.0.0.4:{port + 1}", "api_url": f"http://10.0.0.4:{port}"},
        ] + [
            {"id": f"n{i}", "raft_addr": f"{_member_host(i)}:{port + 1}", "api_url": f"http://{_member_host(i)}:{port}"}
            for i in range(40)
        ]
        return {"service": service, "members": members, "term": 3, "has_quorum": True, "change_in_flight": False,
                "leader": {"id": "node01", "api_url": f"http://{LEADER}:{port}"}}  # fmt: skip

    def request(self, method: str, url: str, *, timeout: float, body: Any = None, **_: Any) -> Response:
        parts = urlsplit(url)
        if method == "POST" or self.hosts.get(parts.hostname or "") in HUNG:
            self.posted += [body] if method == "POST" else []
            self.now[0] += timeout
            raise TransportError(f"{method} {url}: timed out", cause=Cause.HEADERS_TIMEOUT)
        self.now[0] += 0.01
        port = parts.port or 80
        if parts.path == "/admin/members" and port in (2379, 2479):
            return Response(200, {}, json.dumps(self.view(port)).encode(), url)
        return Response(200, {}, b'{"status": "ok"}', url)


def test_members_the_budget_left_unprobed_are_not_checked_never_stale(tmp_path: Path) -> None:
    textfile = tmp_path / "fba.prom"
    cfg = config(leader_url=f"http://{LEADER}:2379", raft_addr="10.0.0.4:2380",
                 notify_url="http://10.0.0.9:9000/hook", prometheus_textfile=str(textfile))  # fmt: skip
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    http = BudgetPeers(now)
    ctx = Context(config=cfg, log=Logger(stream=(tmp_path / "log").open("w")), http=http,  # type: ignore[arg-type]
                  markers=MarkerStore(tmp_path / "state"), failpoints=Failpoints(),
                  clock=Clock(monotonic=lambda: now[0], sleep=sleep))  # fmt: skip

    assert run_health_report(ctx) is ExitCode.UNHEALTHY  # not verified is not healthy

    summary = http.posted[0]  # the webhook's copy
    checks = {c["name"]: c for c in summary["checks"]}
    stale_ids = {name.rpartition(":")[2] for name in summary["stale_members"]}
    assert stale_ids and stale_ids <= HUNG, summary["stale_members"]  # only members probed and failed
    assert all(checks[name]["state"] == "failed" for name in summary["failed"])
    unchecked = summary["not_checked"]
    assert "member:flaredb:n39" in unchecked, unchecked  # the budget ran out in flaredb's list
    for name in unchecked:
        assert name not in summary["failed"] and name not in summary["stale_members"]
        assert checks[name]["state"] == "not_checked" and "remove it" not in checks[name]["detail"]
        assert "not checked" in checks[name]["detail"]
    healthy_members = {f"n{i}" for i in range(12, 40)}
    assert not any(name.rpartition(":")[2] in healthy_members for name in summary["failed"])
    metrics = textfile.read_text()
    assert 'fba_check_ok{check="member:flaredb:n39"}' not in metrics
    assert 'fba_check_not_checked{check="member:flaredb:n39"} 1' in metrics
    assert 'fba_check_ok{check="stale-member:chainfire:n0"} 0' in metrics  # a real failure stays one
    assert "not made within the report's budget" in (tmp_path / "log").read_text()


class Hung:
    """Every request uses up its whole timeout on the fake clock, then fails; POSTs recorded."""

    def __init__(self, now: list[float]) -> None:
        self.now = now
        self.posted: list[Any] = []

    def request(self, method: str, url: str, *, timeout: float, body: Any = None, **_: Any) -> Response:
        self.posted += [body] if method == "POST" else []
        self.now[0] += timeout
        raise TransportError(f"{method} {url}: timed out", cause=Cause.HEADERS_TIMEOUT)


def test_a_leaders_list_the_budget_left_unasked_is_not_checked_and_said_apart(tmp_path: Path) -> None:
    """20 hung peers use the budget before membership is looked at: the membership checks are
    `not_checked`, the probes that were made and failed stay failed, and the textfile says it."""
    textfile = tmp_path / "fba.prom"
    peers = [f"node{i:02d}=10.0.1.{i}:2380" for i in range(10, 30)]
    cfg = config(initial_peers=peers, notify_url="http://10.0.0.9:9000/hook", prometheus_textfile=str(textfile))
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    http = Hung(now)
    ctx = Context(config=cfg, log=Logger(stream=(tmp_path / "log").open("w")), http=http,  # type: ignore[arg-type]
                  markers=MarkerStore(tmp_path / "state"), failpoints=Failpoints(),
                  clock=Clock(monotonic=lambda: now[0], sleep=sleep))  # fmt: skip

    assert run_health_report(ctx) is ExitCode.UNHEALTHY

    summary = http.posted[0]
    states = {c["name"]: c["state"] for c in summary["checks"]}
    assert states["chainfire:local"] == "failed" and "chainfire:local" in summary["failed"]
    for name in ("chainfire:member", "flaredb:member"):
        assert states[name] == "not_checked" and name in summary["not_checked"] and name not in summary["failed"]
    assert summary["stale_members"] == []
    metrics = textfile.read_text()
    assert 'fba_check_ok{check="chainfire:local"} 0' in metrics
    assert 'fba_check_not_checked{check="flaredb:member"} 1' in metrics
    assert 'fba_check_ok{check="flaredb:member"}' not in metrics


class LateLeader:
    """node04's own services answer at once; the leader 10.0.0.1 answers its list (term 3,
    listing node04) just as the report's budget ends (the fake clock jumps to its end), so the
    one other candidate, node02, could not be asked whether a later term leads. node02 answers
    everything at once (had there been time, it would have been asked)."""

    def __init__(self, now: list[float], end: float) -> None:
        self.now, self.end = now, end
        self.asked: list[str] = []

    def request(self, method: str, url: str, *, timeout: float, **_: Any) -> Response:
        parts = urlsplit(url)
        self.asked.append(f"{method} {url}")
        port = parts.port or 80
        if parts.path == "/admin/members":
            if parts.hostname == LEADER and port == 2379:
                self.now[0] = max(self.now[0], self.end)
            view = {"members": [
                {"id": "node01", "raft_addr": f"{LEADER}:{port + 1}", "api_url": f"http://{LEADER}:{port}"},
                {"id": "node04", "raft_addr": f"10.0.0.4:{port + 1}", "api_url": f"http://10.0.0.4:{port}"},
            ], "term": 3, "has_quorum": True, "change_in_flight": False,
                "leader": {"id": "node01", "api_url": f"http://{LEADER}:{port}"}}  # fmt: skip
            return Response(200, {}, json.dumps(view).encode(), url)
        self.now[0] += 0.01
        return Response(200, {}, b'{"status": "ok"}', url)


def test_a_leaders_list_whose_later_term_witnesses_went_unasked_is_not_checked(tmp_path: Path) -> None:
    """The leader's list stands only when no other candidate names a later term; a candidate
    the budget left unasked could have (found by the fixL helper after break 11: the reverse of
    H9, something unasked counted as passed)."""
    from automation.report import REPORT_BUDGET_S

    cfg = config(initial_peers=["node01=10.0.0.1:2380", "node02=10.0.0.2:2380"])
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    http = LateLeader(now, REPORT_BUDGET_S)
    ctx = Context(config=cfg, log=Logger(stream=(tmp_path / "log").open("w")), http=http,  # type: ignore[arg-type]
                  markers=MarkerStore(tmp_path / "state"), failpoints=Failpoints(),
                  clock=Clock(monotonic=lambda: now[0], sleep=sleep))  # fmt: skip

    assert run_health_report(ctx) is ExitCode.UNHEALTHY
    assert not any("10.0.0.2:2379/admin/members" in a for a in http.asked), http.asked  # the witness: unasked
    log = (tmp_path / "log").read_text()
    member = [json.loads(line) for line in log.splitlines() if '"chainfire:member"' in line]
    summary = next(r["context"]["summary"] for r in map(json.loads, log.splitlines()) if "summary" in r["context"])
    checks = {c["name"]: c for c in summary["checks"]}
    assert checks["chainfire:member"]["state"] == "not_checked", (checks["chainfire:member"], member)
    assert "chainfire:member" in summary["not_checked"] and "chainfire:member" not in summary["failed"]
    assert "later term" in checks["chainfire:member"]["detail"], checks["chainfire:member"]["detail"]
