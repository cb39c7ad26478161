"""Leader discovery: hints first, then the configured leader, the peers, and DNS SRV."""

from __future__ import annotations

import io
import json
from types import SimpleNamespace
from typing import Any

import pytest

from automation.configfile import parse
from automation.discovery import LeaderFinder, leader_hint, srv_urls
from automation.http import Response
from automation.log import Logger
from automation.spec.markers import Service


def config(**extra: Any) -> Any:
    data = {
        "node_id": "node04",
        "node_role": "worker",
        "bootstrap": False,
        "cluster_name": "c1.example",
        "leader_url": "http://node01:2379",
        "raft_addr": "10.0.0.4:2380",
        "initial_peers": ["node01:2380", "node02:2380", "node03:2380"],
    }
    data.update(extra)
    return parse(json.dumps(data).encode())


def test_candidates_rotate_and_hints_win() -> None:
    finder = LeaderFinder(config(), Service.CHAINFIRE, Logger(stream=io.StringIO()))
    assert [finder.next() for _ in range(4)] == [
        "http://node01:2379",
        "http://node02:2379",
        "http://node03:2379",
        "http://node01:2379",
    ]
    finder.learn("http://node03:2379")
    assert finder.next() == "http://node03:2379"
    finder.forget()
    assert finder.next() == "http://node02:2379"


def test_flaredb_uses_its_own_port() -> None:
    finder = LeaderFinder(config(), Service.FLAREDB, Logger(stream=io.StringIO()))
    assert finder.candidates()[:2] == ["http://node01:2479", "http://node02:2479"]


@pytest.mark.parametrize(
    ("status", "headers", "body", "hint"),
    [
        (307, {"location": "http://node02:2379/admin/member/add"}, b"", "http://node02:2379"),
        (421, {"x-leader-url": "http://node03:2379"}, b"", "http://node03:2379"),
        (421, {}, b'{"error":"not the leader","leader_url":"http://node02:2379"}', "http://node02:2379"),
        (200, {}, b'{"members":[],"leader":{"id":"node02","api_url":"http://node02:2379"}}', "http://node02:2379"),
        (503, {}, b'{"error":"no quorum"}', None),
    ],
)
def test_leader_hints(status: int, headers: dict[str, str], body: bytes, hint: str | None) -> None:
    assert leader_hint(Response(status, headers, body, "http://node01:2379/admin/members")) == hint


def test_dns_srv_candidates(monkeypatch: pytest.MonkeyPatch) -> None:
    import dns.resolver

    asked: list[tuple[str, str]] = []

    def resolve(name: str, kind: str, lifetime: float) -> list[Any]:
        asked.append((name, kind))
        return [
            SimpleNamespace(priority=20, weight=1, target="b.c1.example.", port=2379),
            SimpleNamespace(priority=10, weight=5, target="a.c1.example.", port=12379),
        ]

    monkeypatch.setattr(dns.resolver, "resolve", resolve)
    urls = srv_urls(Service.CHAINFIRE, "c1.example", "https", Logger(stream=io.StringIO()))
    assert asked == [("_chainfire._tcp.c1.example", "SRV")]
    assert urls == ["https://a.c1.example:12379", "https://b.c1.example:2379"]
    finder = LeaderFinder(config(discovery={"dns_srv": True}), Service.CHAINFIRE, Logger(stream=io.StringIO()))
    assert finder.candidates()[-2:] == ["http://a.c1.example:12379", "http://b.c1.example:2379"]


def test_dns_srv_failure_is_quietly_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    import dns.exception
    import dns.resolver

    def resolve(*_: Any, **__: Any) -> Any:
        raise dns.exception.Timeout

    monkeypatch.setattr(dns.resolver, "resolve", resolve)
    assert srv_urls(Service.FLAREDB, "c1.example", "https", Logger(stream=io.StringIO())) == []


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def finder_with_clock(cfg: Any, service: Service = Service.CHAINFIRE) -> tuple[LeaderFinder, FakeClock, io.StringIO]:
    from automation.policy import Clock

    fake, out = FakeClock(), io.StringIO()
    return LeaderFinder(cfg, service, Logger(stream=out), Clock(fake.monotonic, fake.sleep)), fake, out


def test_a_hint_never_lowers_the_scheme() -> None:
    tls = {"enabled": True, "insecure_skip_verify": True}
    finder, _, out = finder_with_clock(config(leader_url="https://node01:2379", tls=tls))
    assert finder.learn("http://node02:2379") is True
    assert finder.next() == "https://node02:2379"
    assert "asking https://node02:2379 instead" in out.getvalue()
    assert finder.learn("http://node02:2379") and out.getvalue().count("instead") == 1  # said once


def test_a_hint_on_another_services_port_is_refused() -> None:
    finder, _, out = finder_with_clock(config(), Service.FLAREDB)
    assert finder.learn("http://node02:2379") is False  # chainfire's API port
    assert finder.next() == "http://node01:2479"
    assert "that is chainfire's API port" in out.getvalue()


def test_peer_urls_are_chainfire_urls_and_flaredb_asks_their_hosts_on_its_port() -> None:
    cfg = config(initial_peers=[], discovery={"peer_urls": ["http://node07:2379"]})
    assert LeaderFinder(cfg, Service.CHAINFIRE, Logger(stream=io.StringIO())).candidates()[-1] == "http://node07:2379"
    assert LeaderFinder(cfg, Service.FLAREDB, Logger(stream=io.StringIO())).candidates()[-1] == "http://node07:2479"


def test_set_aside_candidates_are_skipped_with_a_doubling_pause() -> None:
    finder, clock, _ = finder_with_clock(config())
    pauses = [finder.set_aside("http://node01:2379", "no quorum", base_s=0.5, cap_s=3) for _ in range(5)]
    assert pauses == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert "http://node01:2379" not in {finder.next() for _ in range(4)}
    for url in ("http://node02:2379", "http://node03:2379"):
        finder.set_aside(url, "connection refused", base_s=0.5, cap_s=3)
    # every candidate set aside: the one that comes back first, and how long until then
    assert finder.next() == "http://node02:2379" and finder.wait_for("http://node02:2379") == 0.5
    clock.sleep(0.5)
    finder.clear("http://node01:2379")
    assert finder.wait_for("http://node01:2379") == 0.0


def test_no_peer_is_asked_more_than_a_few_times_a_second() -> None:
    from automation.discovery import MIN_GAP_S

    finder, clock, _ = finder_with_clock(config())
    url = "http://node01:2379"
    asked = []
    for _ in range(20):
        clock.sleep(finder.wait_for(url))
        finder.asked(url)
        asked.append(clock.now)
    assert all(b - a >= MIN_GAP_S for a, b in zip(asked, asked[1:], strict=False))


def test_a_set_aside_hint_is_not_taken() -> None:
    finder, _, _ = finder_with_clock(config())
    finder.set_aside("http://node03:2379", "no leader", base_s=1, cap_s=1)
    assert finder.learn("http://node03:2379") is False
    assert finder.next() != "http://node03:2379"


def test_an_https_hint_is_never_lowered_either() -> None:
    finder, _, _ = finder_with_clock(config())  # the configuration uses http
    assert finder.learn("https://node02:2379") is True
    assert finder.next() == "https://node02:2379"


def test_a_peer_is_set_aside_by_host_not_by_the_spelling_of_its_url() -> None:
    """Break 8, finding 9: `127.1`, `2130706433` and `127.0.0.1` each got a first strike."""
    finder, _, _ = finder_with_clock(config())
    assert finder.set_aside("http://127.1:2379", "connect timed out", base_s=1, cap_s=16) == 1
    assert finder.wait_for("http://127.0.0.1:2379") == pytest.approx(1.0)
    assert finder.set_aside("http://2130706433:2379", "connect timed out", base_s=1, cap_s=16) == 2  # doubled
    assert finder.wait_for("http://127.0.0.2:2379") == 0.0


def test_a_leaderless_peer_is_paused_briefly_and_never_sooner_than_its_retry_after() -> None:
    """Break 8, findings 6 and 7: every peer on the same 16 s pause missed the end of an
    election by up to 16 s; a Retry-After of 5 s was asked again after 1 s."""
    finder, _, _ = finder_with_clock(config())
    pauses = [finder.set_aside("http://127.0.0.2:2379", "no leader", base_s=1, cap_s=16) for _ in range(6)]
    assert pauses == [1, 2, 4, 4, 4, 4]
    assert finder.set_aside("http://127.0.0.3:2379", "connect timed out", base_s=16, cap_s=16) == 16
    later = Response(503, {"retry-after": "5"}, b"", "http://127.0.0.4:2379/admin/members")
    assert finder.set_aside("http://127.0.0.4:2379", "no leader", base_s=1, cap_s=16, reply=later) == 5.0


def test_a_name_that_resolves_to_this_nodes_address_is_its_own_api(monkeypatch: pytest.MonkeyPatch) -> None:
    """Break 9, F7: `discovery.peer_urls` (or DNS SRV, or a peer's hint) named this node by a
    host name; compared as text it was a candidate, its one-node list proved a join. A name is
    resolved (once) and judged by its address; another port, or a name of another address,
    stays a candidate."""
    import socket

    table = {"vm": ["10.0.0.4"], "node07": ["10.0.0.7"], "dual": ["10.0.0.9", "10.0.0.4"]}
    lookups: list[str] = []

    def getaddrinfo(host: str, *_: Any, **__: Any) -> list[Any]:
        lookups.append(host)
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, 0)) for address in table[host]]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    # (a peer URL on flaredb's port is a config error now: break 9, F19)
    peers = ["http://vm:2379", "http://VM.:2379", "http://node07:2379", "http://dual:2379"]
    finder = LeaderFinder(config(discovery={"peer_urls": peers}), Service.CHAINFIRE, Logger(stream=io.StringIO()))

    candidates = finder.candidates()

    assert "http://node07:2379" in candidates
    assert not any(url.startswith(("http://vm:", "http://VM", "http://dual:")) for url in candidates), candidates
    assert finder.learn("http://vm:2379") is False  # nor is a peer's hint naming it followed
    assert finder.is_own("http://vm:2479") is False  # flaredb's port: not chainfire's own API
    finder.candidates()
    assert lookups.count("vm") == 1  # resolved once per run, as spelt any way


class ListPeers:
    """Answers GET /admin/members per host (a dict, or None: no answer, using up the timeout)."""

    def __init__(self, fake: FakeClock, lists: dict[str, dict[str, Any] | None]) -> None:
        self.fake, self.lists = fake, lists
        self.asked: list[str] = []

    def request(self, method: str, url: str, *, timeout: float, **_: Any) -> Response:
        from automation.http import TransportError
        from automation.spec.causes import Cause

        host = url.split("//")[1].split(":")[0]
        self.asked.append(host)
        body = self.lists.get(host)
        if body is None:
            self.fake.now += timeout
            raise TransportError(f"{method} {url}: timed out", cause=Cause.HEADERS_TIMEOUT)
        return Response(200, {}, json.dumps(body).encode(), url)


def _list(leader: str, term: int) -> dict[str, Any]:
    # One cluster's lists share members (terms are compared only within one cluster: break 12, K11).
    names = dict.fromkeys(["node01", "node02", "node03", leader])
    members = [{"id": n, "raft_addr": f"{n}:2380", "api_url": f"http://{n}:2379"} for n in names]
    return {"members": members, "leader": {"id": leader, "api_url": f"http://{leader}:2379"}, "term": term,
            "has_quorum": True, "change_in_flight": False}  # fmt: skip


def _view(term: int | None) -> Any:
    from automation.membership import parse_view

    body = {**_list("node01", 3), "term": term}
    return parse_view(Response(200, {}, json.dumps(body).encode(), "http://node01:2379/admin/members"))


def test_newer_leader_is_the_highest_later_term_among_the_witnesses() -> None:
    """Break 10, G2/G3: the one rule every conclusion from a leader's list shares."""
    from automation.discovery import LaterTerm, newer_leader
    from automation.policy import Clock, Deadline

    finder, fake, _ = finder_with_clock(config())
    clock = Clock(fake.monotonic, fake.sleep)
    peers = ListPeers(fake, {"node02": _list("node02", 5), "node03": _list("node03", 9)})
    found = newer_leader(peers, finder, "http://node01:2379", _view(3), Deadline.start(6.0, clock), 3.0)  # type: ignore[arg-type]
    assert found == LaterTerm(9, "http://node03:2379", "http://node03:2379")
    assert sorted(peers.asked) == ["node02", "node03"]  # never the stale leader itself


def test_newer_leader_asks_no_witness_set_aside_and_none_without_a_term() -> None:
    from automation.discovery import newer_leader
    from automation.policy import Clock, Deadline

    finder, fake, _ = finder_with_clock(config())
    clock = Clock(fake.monotonic, fake.sleep)
    peers = ListPeers(fake, {"node02": _list("node02", 9), "node03": _list("node03", 9)})
    assert newer_leader(peers, finder, "http://node01:2379", _view(None), Deadline.start(6.0, clock), 3.0) is None  # type: ignore[arg-type]
    assert peers.asked == []  # a list without a term is not compared
    finder.set_aside("http://node02:2379", "timed out", base_s=5.0, cap_s=5.0)
    finder.set_aside("http://node03:2379", "timed out", base_s=5.0, cap_s=5.0)
    assert newer_leader(peers, finder, "http://node01:2379", _view(3), Deadline.start(6.0, clock), 3.0) is None  # type: ignore[arg-type]
    assert peers.asked == []


def test_newer_leader_is_bounded_by_its_budget() -> None:
    from automation.discovery import newer_leader
    from automation.policy import Clock, Deadline

    finder, fake, _ = finder_with_clock(config())
    clock = Clock(fake.monotonic, fake.sleep)
    peers = ListPeers(fake, {"node02": None, "node03": None})  # both hang
    start = fake.now
    assert newer_leader(peers, finder, "http://node01:2379", _view(3), Deadline.start(4.0, clock), 3.0) is None  # type: ignore[arg-type]
    assert fake.now - start <= 4.0 + 0.1


def test_newer_leader_keeps_the_highest_term_seen_in_the_run_as_a_floor() -> None:
    """Break 11, H1/H3: Raft terms never go back. A list of an older term than one read earlier
    in the run is no proof, also when nobody can say so now: the same URL (a VIP that failed
    over to a cut-off ex-leader) or a peer set aside since."""
    from automation.discovery import LaterTerm, TermFloor, newer_leader
    from automation.policy import Clock, Deadline

    floor = TermFloor()
    finder, fake, _ = finder_with_clock(config())
    finder.terms = floor
    clock = Clock(fake.monotonic, fake.sleep)
    finder.saw(_view(5), "http://node01:2379")  # the same URL, before the add
    peers = ListPeers(fake, {"node02": None, "node03": None})
    finder.set_aside("http://node02:2379", "timed out", base_s=5.0, cap_s=5.0)
    finder.set_aside("http://node03:2379", "timed out", base_s=5.0, cap_s=5.0)
    found = newer_leader(peers, finder, "http://node01:2379", _view(3), Deadline.start(6.0, clock), 3.0)  # type: ignore[arg-type]
    assert found == LaterTerm(5, "http://node01:2379", None)  # nobody else to ask: read again
    assert peers.asked == []

    # A peer that named a later leader earlier and is set aside now: that leader is asked.
    finder.saw(parse_list(_list("node02", 9)), "http://node02:2379")
    found = newer_leader(peers, finder, "http://node01:2379", _view(3), Deadline.start(6.0, clock), 3.0)  # type: ignore[arg-type]
    assert found == LaterTerm(9, "http://node02:2379", "http://node02:2379")
    # The run's floor is shared: a fresh finder of the same run knows it too.
    other, _, _ = finder_with_clock(config())
    other.terms = floor
    assert other.terms.highest(Service.CHAINFIRE) is not None
    assert floor.highest(Service.FLAREDB) is None  # per service


def test_only_a_settled_list_naming_a_leader_raises_the_term_floor() -> None:
    """A partitioned node campaigning alone raises its term without ever leading: its list
    (no leader, no quorum) must not hold the real leader's list below it."""
    from automation.discovery import TermFloor

    floor = TermFloor()
    campaigning = {**_list("node02", 40), "leader": None, "has_quorum": False}
    floor.saw(Service.CHAINFIRE, parse_list(campaigning), "http://node02:2379")
    floor.saw(Service.CHAINFIRE, parse_list({**_list("node02", 41), "change_in_flight": True}), "x")
    floor.saw(Service.CHAINFIRE, parse_list({**_list("node02", 42), "term": None}), "x")
    assert floor.highest(Service.CHAINFIRE) is None
    floor.saw(Service.CHAINFIRE, parse_list(_list("node01", 5)), "http://node01:2379")
    floor.saw(Service.CHAINFIRE, parse_list(_list("node01", 3)), "http://node01:2379")  # never goes back
    seen = floor.highest(Service.CHAINFIRE)
    assert seen is not None and seen.term == 5


def test_our_own_list_is_a_witness_only_for_a_leader_of_the_same_cluster() -> None:
    """Break 11, H6: this node's own list naming another member of the cluster's list as the
    leader in a later term raises the floor; one naming this node, or a leader the list does
    not hold (a cluster of its own, whose terms count apart), does not."""
    from automation.discovery import TermFloor

    finder, _, _ = finder_with_clock(config())
    finder.terms = TermFloor()
    nodes = [{"id": n, "raft_addr": f"{n}:2380", "api_url": f"http://{n}:2379"} for n in ("node01", "node02", "node04")]
    cluster = parse_list({**_list("node01", 2), "members": nodes})
    elsewhere = parse_list(_list("node07", 50))  # a leader the cluster does not list
    finder.saw_own(elsewhere, cluster)
    mine = parse_list({**_list("node04", 60), "members": nodes})  # this node leads (config: node04)
    finder.saw_own(mine, cluster)
    assert finder.terms.highest(Service.CHAINFIRE) is None
    finder.saw_own(parse_list({**_list("node02", 9), "members": nodes}), cluster)
    seen = finder.terms.highest(Service.CHAINFIRE)
    assert seen is not None and seen.term == 9 and seen.source == "this node's own chainfire service"


def parse_list(body: dict[str, Any]) -> Any:
    from automation.membership import parse_view

    return parse_view(Response(200, {}, json.dumps(body).encode(), "http://x:2379/admin/members"))
