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
