"""Found by a second tester (break 7), at the unit tier: one notion of "this node's own API"
(hosts compared as the connection resolves them), input patterns matched in full, and leave's
proof of removal judged as the join judges membership."""

from __future__ import annotations

import io
import json
import re
import socket
from typing import Any

import pytest

from automation.cli import build_parser
from automation.discovery import LeaderFinder
from automation.errors import ConfigError, UsageError
from automation.http import Response
from automation.jsonload import path_text
from automation.log import Logger
from automation.membership import MemberView, Proof, judge, judge_removed, parse_view
from automation.spec.markers import NODE_ID_PATTERN, Service, is_node_id
from tests.unit.automation.worker_node import ADDR, ME, config, finder

# Finding 1 ----------------------------------------------------------------------------------

OWN = [
    "http://10.0.0.4:2379",
    "http://10.0.4:2379",  # inet_aton's a.b.c form
    "http://167772164:2379",  # one number
    "http://012.000.000.004:2379",  # parts with a leading 0 are octal to getaddrinfo
    "http://0xa.0.0.4:2379",
    "http://[::ffff:10.0.0.4]:2379",  # IPv4-mapped IPv6 reaches the IPv4 address
    "http://[::ffff:a00:4]:2379",
    "https://10.0.0.4.:2379",
    "http://NODE04.:2379",  # our node id, in any case, with the root's trailing dot
    "http://LocalHost.:2379",
]
NOT_OWN = [
    "http://10.0.0.4:2479",  # another port: flaredb's API, not chainfire's
    "http://10.0.0.5:2379",
    # loopback: this host for a node at 10.0.0.4 (break 10, G4); test_fifth_tester.py covers it
    "http://[::ffff:10.0.0.5]:2379",
    "http://node044:2379",
    "http://10.0.0.4.example:2379",
    "http://010.000.000.004:2379",  # octal 010 is 8: this is 8.0.0.4
]


@pytest.mark.parametrize("url", OWN)
def test_every_spelling_of_this_nodes_own_api_is_own(url: str) -> None:
    assert finder().is_own(url)


@pytest.mark.parametrize("url", NOT_OWN)
def test_other_hosts_and_ports_are_not_own(url: str) -> None:
    """A guard (it passed before): the rule must not widen to all of loopback or to names."""
    assert not finder().is_own(url)


@pytest.mark.parametrize(
    "host", ["10.0.4", "167772164", "012.000.000.004", "0xa.0.0.4", "[::ffff:a00:4]", "010.000.000.004", "10.0.0.04"]
)
def test_own_is_what_getaddrinfo_connects_to(host: str) -> None:
    """The rule follows the resolver, not a guess: a numeric spelling is ours exactly when
    getaddrinfo (what the transport calls) resolves it to our address."""
    addresses = {info[4][0] for info in socket.getaddrinfo(host.strip("[]"), 2379, type=socket.SOCK_STREAM)}
    ours = addresses <= {"10.0.0.4", "::ffff:10.0.0.4"}
    assert finder().is_own(f"http://{host}:2379") is ours, addresses


@pytest.mark.parametrize("url", [u for u in OWN if "2379" in u])
def test_a_hint_naming_this_node_in_any_spelling_is_refused(url: str) -> None:
    f = finder()
    assert not f.learn(url)
    assert f.next() == "http://10.0.0.1:2379"


def test_candidates_never_fall_back_to_this_nodes_own_api() -> None:
    """A bootstrap node's leader_url may be itself: then no candidate is left, and asking our
    own service (whose list proves nothing) is no fallback: a configuration error, exit 3."""
    f = LeaderFinder(
        config(bootstrap=True, initial_peers=[f"{ME}={ADDR}"], leader_url="http://10.000.0.4:2379"),
        Service.CHAINFIRE,
        Logger(stream=io.StringIO()),
    )
    assert f.candidates() == []
    with pytest.raises(ConfigError, match="own API"):
        f.next()


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"leader_url": "http://10.0.4:2379"}, "leader_url"),
        ({"leader_url": "http://[::ffff:a00:4]:2379"}, "leader_url"),
        ({"leader_url": "http://NODE04.:2379"}, "leader_url"),
        ({"leader_url": "http://10.0.0.4:9999"}, "leader_url"),  # flaredb's derived leader: us
        ({"services": {"chainfire": {"leader_url": "http://10.0.0.4:2379"}}}, "services.chainfire.leader_url"),
        ({"services": {"flaredb": {"leader_url": "http://localhost:2479"}}}, "services.flaredb.leader_url"),
        ({"discovery": {"peer_urls": ["http://10.0.0.1:2379", "http://167772164:2379"]}}, "discovery.peer_urls[1]"),
    ],
)
def test_a_joining_nodes_config_naming_its_own_api_is_invalid(extra: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config(**extra)
    assert any(field in p and "this node's own" in p for p in caught.value.problems), caught.value.problems


def test_a_bootstrap_nodes_leader_url_may_be_itself() -> None:
    """A guard (it passed before): the first node's leader is itself."""
    config(bootstrap=True, initial_peers=[f"{ME}={ADDR}"], leader_url="http://10.0.0.4:2379")


# Finding 2 ----------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["node02\n"])
def test_a_node_id_with_a_line_break_is_no_node_id(text: str) -> None:
    assert re.match(NODE_ID_PATTERN, "node02\n")  # what `$` let through
    assert not is_node_id(text)
    with pytest.raises(UsageError, match="not a node id"):
        build_parser().parse_args(["leave", "--service", "chainfire", "--member", text])


@pytest.mark.parametrize(
    "extra",
    [
        {"initial_peers": ["node02\n=10.0.0.2:2380"]},
        {"initial_peers": ["node02\n:2380"]},
        {"node_id": "node04\n"},
        {"cluster_name": "c1\n"},
        {"iam": {"admin_user": "admin\n"}},
    ],
)
def test_config_patterns_refuse_a_trailing_newline(extra: dict[str, Any]) -> None:
    """The checks written in Python (peers' ids and hosts) now match in full. The last three
    are guards (they passed before): pydantic's `pattern=` runs Rust's regex, whose `$` is
    the end of the text."""
    with pytest.raises(ConfigError):
        config(**extra)


def test_a_json_path_key_with_a_newline_is_quoted() -> None:
    assert path_text(("services", "chainfire\n")) == 'services["chainfire\\n"]'


# Finding 3 ----------------------------------------------------------------------------------


def view(members: list[dict[str, Any]]) -> MemberView:
    body = {"members": members, "has_quorum": True, "change_in_flight": False}
    parsed = parse_view(Response(200, {}, json.dumps(body).encode(), "http://x/admin/members"))
    assert parsed is not None
    return parsed


@pytest.mark.parametrize(
    "entry",
    [
        {"id": "node04 ", "raft_addr": ADDR},
        {"id": "node09", "raft_addr": ADDR},
        {"id": ME, "raft_addr": "10.0.0.9:2380"},
        {"id": "x", "raft_addr": f"{ME}:2380"},  # our id as the Raft host, as initial_peers write it
        {"id": "node09", "raft_addr": "10.0.4:2380"},  # our address in another spelling
        {"id": "node09", "raft_addr": "[::ffff:a00:4]:2380"},
    ],
)
def test_a_settled_list_still_holding_us_under_any_id_is_no_removal(entry: dict[str, Any]) -> None:
    judgement = judge_removed(view([{"id": "node01", "raft_addr": "10.0.0.1:2380"}, entry]), ME, ADDR)
    assert judgement.verdict is Proof.PENDING and "still listed" in judgement.detail


def test_a_settled_list_without_us_proves_removal() -> None:
    assert judge_removed(view([{"id": "node01", "raft_addr": "10.0.0.1:2380"}]), ME, ADDR).verdict is Proof.PROVEN


@pytest.mark.parametrize("listed", ["10.0.4:2380", "[::ffff:10.0.0.4]:2380", "NODE04.:2380"])
def test_our_raft_address_in_another_spelling_under_another_id_is_a_conflict(listed: str) -> None:
    body = [{"id": "node01", "raft_addr": "10.0.0.1:2380"}, {"id": ME, "raft_addr": ADDR}]
    judgement = judge(view([*body, {"id": "node09", "raft_addr": listed}]), ME, ADDR)
    assert judgement.verdict is Proof.CONFLICT and "node09" in judgement.detail


@pytest.mark.parametrize("listed", ["10.0.0.5:2380", "10.0.0.4:2381", "127.0.0.4:2380", "10.0.0.4:²"])
def test_other_raft_addresses_are_not_ours(listed: str) -> None:
    """A guard (it passed before): another host, port or loopback address is another node."""
    body = [{"id": ME, "raft_addr": ADDR}, {"id": "node09", "raft_addr": listed}]
    assert judge(view(body), ME, ADDR).verdict is Proof.PROVEN
