"""Found by a fifth tester (break 10), at the unit tier: an address that can only be this host
(unspecified, loopback on a node that is not on loopback, a list that names only us) is never
taken for a peer (G4), a member's probe target follows the contract's default (G14), and two
listeners of this node on one port are a configuration error (G6)."""

from __future__ import annotations

from typing import Any

import pytest

from automation.errors import ConfigError
from automation.membership import Member, MemberView
from automation.report import _member_api
from automation.spec.markers import Service
from tests.unit.automation.worker_node import ADDR, ME, config, finder

# G4 -----------------------------------------------------------------------------------------

THIS_HOST = [
    "http://0.0.0.0:2379",
    "http://0:2379",
    "http://[::]:2379",
    "http://127.0.0.1:2379",
    "http://127.0.0.4:2379",
    "http://[::1]:2379",
    "http://2130706433:2379",  # 127.0.0.1 as one number
]


@pytest.mark.parametrize("url", THIS_HOST)
def test_unspecified_and_loopback_are_this_nodes_own_api(url: str) -> None:
    f = finder()
    assert f.is_own(url)
    assert not f.learn(url)  # a hint there is no candidate
    assert f.next() == "http://10.0.0.1:2379"


@pytest.mark.parametrize("url", ["http://127.0.0.1:2379", "http://[::1]:2379", "http://127.0.0.9:2379"])
def test_loopback_is_another_node_when_this_node_is_on_loopback(url: str) -> None:
    """A guard: nodes side by side on 127.0.0.x (the tests, a laptop) keep loopback peers."""
    f = finder(raft_addr="127.0.0.4:2380", leader_url=url)
    assert not f.is_own(url)
    assert not f.is_own("http://127.0.0.5:2379")
    assert f.is_own("http://0.0.0.0:2379")  # unspecified is this host in any set-up


@pytest.mark.parametrize(
    ("extra", "field", "said"),
    [
        ({"leader_url": "http://0.0.0.0:2379"}, "leader_url", "unspecified address"),
        ({"leader_url": "http://0:2379"}, "leader_url", "unspecified address"),
        ({"leader_url": "http://[::]:2379"}, "leader_url", "unspecified address"),
        ({"leader_url": "http://127.0.0.1:2379"}, "leader_url", "loopback"),
        ({"leader_url": "http://[::1]:2379"}, "leader_url", "loopback"),
        ({"leader_url": "http://127.0.0.1:9999"}, "leader_url", "loopback"),  # this host on any port
        ({"discovery": {"peer_urls": ["http://0.0.0.0:2379"]}}, "discovery.peer_urls[0]", "unspecified"),
        ({"discovery": {"peer_urls": ["http://[::1]:2379"]}}, "discovery.peer_urls[0]", "loopback"),
        ({"services": {"flaredb": {"leader_url": "http://127.0.0.1:2479"}}}, "services.flaredb.leader_url", "loopback"),
        ({"initial_peers": ["node02=0.0.0.0:2380"]}, "initial_peers[0]", "unspecified"),
        ({"flaredb_peers": ["10.0.0.1:2480", "0:2480"]}, "flaredb_peers[1]", "unspecified"),
    ],
)
def test_a_leader_or_peer_on_this_host_is_invalid(extra: dict[str, Any], field: str, said: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config(**extra)
    assert any(p.startswith(field) and said in p for p in caught.value.problems), caught.value.problems


def test_loopback_leaders_stay_valid_where_they_are_other_nodes_or_the_bootstrap_node_itself() -> None:
    """Guards: side by side on loopback, and a bootstrap node whose leader_url is itself."""
    config(raft_addr="127.0.0.4:2380", leader_url="http://127.0.0.1:2379")
    config(bootstrap=True, initial_peers=[f"{ME}={ADDR}"], leader_url="http://127.0.0.1:2379")
    with pytest.raises(ConfigError, match="unspecified"):
        config(bootstrap=True, initial_peers=[f"{ME}={ADDR}"], leader_url="http://0.0.0.0:2379")


def test_a_name_that_resolves_to_loopback_or_unspecified_is_this_node(monkeypatch: pytest.MonkeyPatch) -> None:
    """Debian maps the machine's own name to 127.0.1.1: a peer URL or hint by that name lands
    here; so does a name that resolves to 0.0.0.0. A name of another address stays a peer."""
    import socket

    table = {"myself": "127.0.1.1", "wild": "0.0.0.0", "node07": "10.0.0.7"}

    def getaddrinfo(host: str, *_: Any, **__: Any) -> list[Any]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (table[host], 0))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    f = finder()
    assert f.is_own("http://myself:2379")
    assert f.is_own("http://wild:2379")
    assert not f.is_own("http://node07:2379")


def test_a_list_of_only_this_node_is_no_peers_list() -> None:
    """A load balancer that picked our own service: its list names us the leader, nobody else."""
    us = Member(ME, ADDR, "http://10.0.0.4:2379")
    other = Member("node01", "10.0.0.1:2380", "http://10.0.0.1:2379")
    alone = MemberView((us,), "http://10.0.0.4:2379", True, False)
    assert not alone.peers_of(ME)
    assert MemberView((us, other), "http://10.0.0.4:2379", True, False).peers_of(ME)


# G14 ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("api_url", "expected"),
    [
        (None, "http://10.0.0.5:2379"),  # the contract's default: raft_addr's host, the API port
        ("", "http://10.0.0.5:2379"),
        ("http://0.0.0.0:2379", "http://10.0.0.5:2379"),  # misadvertised: lands on us
        ("http://127.0.0.1:2379", "http://10.0.0.5:2379"),
        ("http://10.0.0.4:2379", "http://10.0.0.5:2379"),  # our own API: never a peer's probe
        ("http://10.0.0.55:2379", "http://10.0.0.55:2379"),  # its own word, when it is another host
    ],
)
def test_a_members_probe_target_follows_the_contract(api_url: str | None, expected: str) -> None:
    api, why = _member_api(config(), Service.CHAINFIRE, Member("node05", "10.0.0.5:2380", api_url))
    assert (api, why) == (expected, "")


def test_a_member_that_names_only_this_host_is_a_failed_check_not_skipped() -> None:
    api, why = _member_api(config(), Service.CHAINFIRE, Member("node05", "0.0.0.0:2380", "http://0.0.0.0:2379"))
    assert api is None and "cannot be probed" in why


def test_under_tls_the_default_probe_is_https() -> None:
    cfg = config(leader_url="https://10.0.0.1:2379", tls={"enabled": True, "insecure_skip_verify": True})
    assert _member_api(cfg, Service.FLAREDB, Member("node05", "10.0.0.5:2480"))[0] == "https://10.0.0.5:2479"


# G6 -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "field", "other"),
    [
        ({"services": {"flaredb": {"raft_port": 2380}}}, "services.flaredb.raft_port", "raft_addr"),
        ({"services": {"flaredb": {"api_port": 2379}}}, "services.flaredb.api_port", "services.chainfire.api_port"),
        ({"services": {"iam": {"api_port": 2479}}}, "services.iam.api_port", "services.flaredb.api_port"),
        ({"raft_addr": "10.0.0.4:2479"}, "services.flaredb.api_port", "raft_addr"),
        ({"raft_addr": "10.0.0.4:2379"}, "raft_addr", "services.chainfire.api_port"),
        ({"services": {"iam": {"api_port": 2480}}}, "services.iam.api_port", "services.flaredb.raft_port"),
    ],
)
def test_two_listeners_on_one_port_are_invalid(extra: dict[str, Any], field: str, other: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config(**extra)
    assert any(p.startswith(field) and other in p for p in caught.value.problems), caught.value.problems


def test_distinct_ports_stay_valid() -> None:
    """A guard: moved ports that collide with nothing."""
    config(services={"flaredb": {"raft_port": 3380, "api_port": 3379}, "iam": {"api_port": 9090}})
