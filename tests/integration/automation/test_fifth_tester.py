"""Break 10 (docs/failure-kinds.md, "Found by a fifth tester"): a stale leader's view (a lower
Raft `term`) is never the cluster's truth, in any command that concludes from a leader's list.
Fake peers on loopback; each test failed before its fix."""

from __future__ import annotations

from automation.spec.exitcodes import ExitCode
from automation.spec.markers import MarkerIdentity

from .conftest import NODE_ID, RAFT_ADDR, Fba, Node, Servers
from .expect import JOINED, markers_in
from .fakes_join import own_health, stale_leader, write_marker, write_old_marker
from .reports import healthy_node, summary_of

JOIN = ("join", "--service", "chainfire")
LEAVE = ("leave", "--service", "chainfire")


def _behind_stale(
    node: Node, stale_url: str, leader_url: str, deadline_s: float = 8, **overrides: object
) -> dict[str, object]:
    """A config whose `leader_url` is the stale leader; the current one is found among the peers."""
    services = {"chainfire": {"leader_url": stale_url}}
    return node.config(leader_url=stale_url, services=services, discovery={"peer_urls": [leader_url]},
                       join={"deadline_s": deadline_s}, **overrides)  # fmt: skip


def test_a_stale_leaders_list_does_not_make_the_report_healthy(fba: Fba, node: Node, servers: Servers) -> None:
    """G2: the configured leader, cut off in term 3, lists this node; the leader of term 9 does
    not. The report said "Cluster healthy", exit 0, from the stale list."""
    healthy_node(node)
    leader = node.leaders["chainfire"]
    node.clusters["chainfire"].term = 9
    node.clusters["chainfire"].members.pop(NODE_ID)
    me = {"id": NODE_ID, "raft_addr": RAFT_ADDR, "api_url": node.chainfire.url}
    stale = stale_leader(servers, members=(me,))
    fba.write_config(_behind_stale(node, stale.url, leader.url, initial_peers=["127.0.0.2:2380"]))

    result = fba.run("health-report")

    assert result.rc == ExitCode.UNHEALTHY, result.describe()
    summary = summary_of(result)
    assert "chainfire:member" in summary["failed"], summary
    check = next(c for c in summary["checks"] if c["name"] == "chainfire:member")
    assert leader.url in check["detail"], check


def test_a_report_believes_the_leader_of_the_later_term(fba: Fba, node: Node, servers: Servers) -> None:
    """G2, the other side: the stale leader does not list this node, the leader of the later
    term does: healthy, read from the later term's leader."""
    healthy_node(node)
    leader = node.leaders["chainfire"]
    node.clusters["chainfire"].term = 9
    stale = stale_leader(servers)
    fba.write_config(_behind_stale(node, stale.url, leader.url, initial_peers=["127.0.0.2:2380"]))

    result = fba.run("health-report")

    assert result.rc == ExitCode.HEALTHY, result.describe()


def test_a_marker_is_not_verified_by_a_stale_leaders_list(fba: Fba, node: Node, servers: Servers) -> None:
    """G2, the marker check: a marker naming nobody was "verified" by the stale leader's list
    (term 3) and re-stamped as ours (exit 2, never checked again); the leader of term 9 does not
    list this node. Now the later term decides: not trusted, the join adds this node there."""
    leader = node.leader()
    node.clusters["chainfire"].term = 9
    me = {"id": NODE_ID, "raft_addr": RAFT_ADDR, "api_url": node.chainfire.url}
    stale = stale_leader(servers, members=(me,))
    fba.write_config(_behind_stale(node, stale.url, leader.url))
    fba.state_dir.mkdir(mode=0o700, exist_ok=True)
    write_old_marker(fba.state_dir / JOINED)

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.OK, result.describe()
    assert not result.with_message("marker verified by the leader"), result.describe()
    assert len(leader.requests_to("POST", "/admin/member/add")) == 1
    assert NODE_ID in node.clusters["chainfire"].member_ids()


def test_a_leave_does_not_believe_a_stale_leaders_not_a_member(fba: Fba, node: Node, servers: Servers) -> None:
    """G3: the stale leader (term 3) answered the DELETE 404 "not a member" and its list lacked
    this node: exit 2 and the marker deleted, while the leader of term 9 still listed it as a
    voter. Now the later term's leader gets the DELETE and its list proves the removal."""
    leader = node.leader()
    node.clusters["chainfire"].term = 9
    node.clusters["chainfire"].add_member(NODE_ID, RAFT_ADDR, node.chainfire.url)
    stale = stale_leader(servers)
    fba.write_config(_behind_stale(node, stale.url, leader.url))
    fba.state_dir.mkdir(mode=0o700, exist_ok=True)
    write_marker(fba.state_dir / JOINED, MarkerIdentity(NODE_ID, "testcluster", RAFT_ADDR))

    result = fba.run(*LEAVE)

    assert result.rc == ExitCode.OK, result.describe()
    assert len(leader.requests_to("DELETE", f"/admin/member/{NODE_ID}")) == 1
    assert NODE_ID not in node.clusters["chainfire"].member_ids()
    assert markers_in(fba.state_dir) == []


def test_a_leave_is_not_ended_by_a_stale_leader_that_cannot_be_outvoted(fba: Fba, node: Node, servers: Servers) -> None:
    """G3, when the later term's leader cannot be read: no proof, so the marker is not deleted
    and the leave does not say "not a member" (exit 2)."""
    node.leader()
    node.clusters["chainfire"].term = 9
    node.clusters["chainfire"].add_member(NODE_ID, RAFT_ADDR, node.chainfire.url)
    witness = servers.start("witness", cluster=node.clusters["chainfire"], role="follower")
    node.leaders["chainfire"].close()  # the later term's leader is named, but does not answer
    stale = stale_leader(servers)
    fba.write_config(_behind_stale(node, stale.url, witness.url, deadline_s=4))
    fba.state_dir.mkdir(mode=0o700, exist_ok=True)
    write_marker(fba.state_dir / JOINED, MarkerIdentity(NODE_ID, "testcluster", RAFT_ADDR))

    result = fba.run(*LEAVE)

    assert result.rc not in (ExitCode.OK, ExitCode.ALREADY_DONE), result.describe()
    assert markers_in(fba.state_dir) != [], result.describe()


def test_a_stale_leaders_list_does_not_veto_the_add(fba: Fba, node: Node, servers: Servers) -> None:
    """G2's kind in the join's veto (break 9, F2): this node's own chainfire follows the leader
    of term 9, which the stale leader's list (term 3) does not list; that list ended the join
    "own service in another cluster", exit 3. Now the later term's list is the one judged."""
    leader = node.leader()
    node.clusters["chainfire"].term = 9
    leader_id = node.clusters["chainfire"].leader_id
    node.chainfire.script("GET", "/health", own_health(node, leader_id, "follower"), repeat_last=True)
    # leader0 was elected after the stale leader was cut off; both lists hold node02 (one cluster).
    node02 = {"id": "node02", "raft_addr": "127.0.0.7:2380"}
    node.clusters["chainfire"].add_member(node02["id"], node02["raft_addr"])
    stale = stale_leader(servers, members=(node02,), knows_leader=False)
    fba.write_config(_behind_stale(node, stale.url, leader.url))

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.OK, result.describe()
    assert len(leader.requests_to("POST", "/admin/member/add")) == 1
    assert stale.requests_to("POST", "/admin/member/add") == []
