"""Found by a fifth tester (break 10): this node's own service, reached through an address that
can only be this host or through a peer URL that leads back to it, never proves a join (G4),
and health-report probes every other member, at the contract's default when it gives no
usable `api_url` (G14). Fake peers on loopback; each test failed before its fix."""

from __future__ import annotations

from typing import Any

from automation.spec.exitcodes import ExitCode

from .conftest import NODE_ID, RAFT_ADDR, Fba, Node, Servers, cause
from .expect import JOINED, markers_in
from .fakes import Answer
from .fakes_join import write_marker
from .reports import healthy_node, summary_of

JOIN = ("join", "--service", "chainfire")


def _own_list(node: Node) -> dict[str, Any]:
    """What this node's own chainfire answers after forming a one-node cluster of its own."""
    me = {"id": NODE_ID, "raft_addr": RAFT_ADDR, "api_url": node.chainfire.url}
    return {"members": [me], "leader": {"id": NODE_ID, "api_url": node.chainfire.url}, "term": 1,
            "has_quorum": True, "change_in_flight": False}  # fmt: skip


def _config(node: Node, first: str) -> dict[str, Any]:
    return node.config(leader_url=first, services={"chainfire": {"leader_url": first}},
                       join={"deadline_s": 4, "max_attempts": 2})  # fmt: skip


def test_a_leader_advertised_at_the_unspecified_address_is_never_asked(fba: Fba, node: Node, servers: Servers) -> None:
    """G4: a follower names the leader at `http://0.0.0.0:<port>` (an advertise URL left at the
    listen address); a connection there reaches this node's own service, whose one-node list
    "proved" the join: exit 2 and a marker, no add."""
    node.chainfire.script("GET", "/admin/members", Answer(200, _own_list(node)), repeat_last=True)
    follower = servers.start("follower")
    cluster = {"members": [{"id": "node01", "raft_addr": "127.0.0.9:2380"}], "term": 3, "has_quorum": True,
               "leader": {"id": "node01", "api_url": f"http://0.0.0.0:{node.chainfire.port}"}}  # fmt: skip
    follower.script("GET", "/admin/members", Answer(200, cluster), repeat_last=True)
    fba.write_config(_config(node, follower.url))

    result = fba.run(*JOIN)

    assert result.rc != ExitCode.ALREADY_DONE, result.describe()
    assert JOINED not in markers_in(fba.state_dir)
    assert node.chainfire.requests_to("GET", "/admin/members") == []
    assert result.with_message("this node's own chainfire API", "WARN"), result.describe()


def test_a_peer_url_that_leads_back_to_this_node_is_no_proof(fba: Fba, node: Node, servers: Servers) -> None:
    """G4: `leader_url` is a load balancer that picked this node's own service: the list it
    answers names this node the leader and nobody else, which no peer's list can be."""
    balancer = servers.start("balancer")
    balancer.script("GET", "/admin/members", Answer(200, _own_list(node)), repeat_last=True)
    fba.write_config(_config(node, balancer.url))

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.FAILED, result.describe()
    assert JOINED not in markers_in(fba.state_dir)
    assert not result.with_message("This node is the leader now, as the list of a peer says", "INFO")
    assert result.with_message("no other member", "WARN"), result.describe()


def test_a_manual_marker_is_not_re_stamped_by_this_nodes_own_list(fba: Fba, node: Node, servers: Servers) -> None:
    """G4, the marker check's twin: a manual marker (no identity) was "verified" by the list our
    own service answered through the balancer and re-written as ours, never checked again."""
    balancer = servers.start("balancer")
    balancer.script("GET", "/admin/members", Answer(200, _own_list(node)), repeat_last=True)
    fba.write_config(_config(node, balancer.url))
    marker = fba.state_dir / JOINED
    fba.state_dir.mkdir(parents=True, exist_ok=True)
    text = write_marker(marker, None)

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.ALREADY_DONE, result.describe()  # trusted as when no leader answers
    assert marker.read_text() == text  # not re-written with this node's identity
    assert result.with_message("leads to this node's own chainfire API", "WARN"), result.describe()


def test_leave_through_a_url_that_leads_back_to_this_node_sends_nothing(fba: Fba, node: Node, servers: Servers) -> None:
    """G4, leave: the balancer's list (only us, naming us the leader) made leave say "this node
    is the leader"; a DELETE there would go to our own one-node cluster."""
    balancer = servers.start("balancer")
    balancer.script("GET", "/admin/members", Answer(200, _own_list(node)), repeat_last=True)
    fba.write_config(_config(node, balancer.url))

    result = fba.run("leave", "--service", "chainfire")

    assert result.rc == ExitCode.INVALID, result.describe()
    [line] = result.levels("ERROR")
    assert cause(line) == "own service in another cluster", line
    assert balancer.requests_to("DELETE", f"/admin/member/{NODE_ID}") == []


def test_a_member_without_api_url_is_probed_at_the_contracts_default(fba: Fba, node: Node) -> None:
    """G14: a dead voter added by hand without `api_url` (the docs' own curl example) was never
    probed: "Cluster healthy". The contract's default is raft_addr's host with the API port."""
    healthy_node(node)
    node.clusters["chainfire"].add_member("node09", "127.0.0.9:2389")
    fba.write_config(node.config(initial_peers=["127.0.0.2:2380"]))

    result = fba.run("health-report")

    assert result.rc == ExitCode.UNHEALTHY, result.describe()
    summary = summary_of(result)
    assert summary["stale_members"] == ["stale-member:chainfire:node09"]
    detail = next(c["detail"] for c in summary["checks"] if c["name"] == "stale-member:chainfire:node09")
    assert f"127.0.0.9:{node.chainfire.port}/health" in detail


def test_a_member_advertised_at_the_unspecified_address_is_not_probed_on_this_node(fba: Fba, node: Node) -> None:
    """G14: node09's `api_url` is `http://0.0.0.0:<port>`: the probe reached this node's own
    chainfire, which answered 200, and the dead voter was reported healthy."""
    healthy_node(node)
    node.clusters["chainfire"].add_member("node09", "127.0.0.9:2389", f"http://0.0.0.0:{node.chainfire.port}")
    fba.write_config(node.config(initial_peers=["127.0.0.2:2380"]))

    result = fba.run("health-report")

    assert result.rc == ExitCode.UNHEALTHY, result.describe()
    assert summary_of(result)["stale_members"] == ["stale-member:chainfire:node09"]
