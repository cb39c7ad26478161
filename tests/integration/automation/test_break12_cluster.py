"""Break 12 (docs/failure-kinds.md, "Found by a seventh tester"): a member list is evidence
about this node's cluster only if it is that cluster's (K11), and the leader that answered a
report is never one of its stale members (K8). Fake peers on loopback; each failed before its fix."""

from __future__ import annotations

from typing import Any

import pytest

from automation.spec.exitcodes import ExitCode

from .conftest import NODE_ID, Fba, Node, Servers
from .expect import markers_in
from .fakes import Cluster, FakeServer, free_port
from .reports import healthy_node, summary_of

JOIN = ("join", "--service", "chainfire")
OTHER_HOST = "127.0.0.3"  # another cluster's node: not this cluster's leader host (127.0.0.1)


def other_cluster(servers: Servers, *, term: int = 5000, named: str | None = None) -> tuple[FakeServer, Cluster]:
    """Another cluster's leader (x21, with x22), in a much later term of its own."""
    cluster = Cluster(leader_id="x21", leader_raft_addr="127.0.0.21:2380", term=term)
    host = OTHER_HOST if named is None else "127.0.0.1"
    server = servers.start("other", host=host, cluster=cluster)
    cluster.add_member("x22", "127.0.0.22:2380", f"http://{host}:1")
    if named is not None:
        view = cluster.view

        def with_name() -> dict[str, Any]:
            return {**view(), "cluster": named}

        cluster.view = with_name  # type: ignore[method-assign]
    return server, cluster


def posts(server: FakeServer) -> list[Any]:
    return server.requests_to("POST", "/admin/member/add")


@pytest.mark.parametrize("ours_up", [True, False], ids=["both-up", "ours-down"])
def test_a_discovery_peer_of_another_cluster_is_never_added_to(
    fba: Fba, node: Node, servers: Servers, ours_up: bool
) -> None:
    """K11: the other cluster's term 5000 made our leader's list "stale" (a second add, there),
    and with our leader down for a moment this node joined the other cluster only."""
    other, cluster = other_cluster(servers)
    if ours_up:
        leader_url = node.leader().url
    else:
        leader_url = f"http://127.0.0.1:{free_port()}"
    services = {"chainfire": {"leader_url": leader_url}}
    fba.write_config(node.config(leader_url=leader_url, services=services, discovery={"peer_urls": [other.url]},
                                 join={"max_attempts": 2, "deadline_s": 6}))  # fmt: skip

    result = fba.run(*JOIN)

    assert posts(other) == [] and NODE_ID not in cluster.member_ids(), result.describe()
    if ours_up:
        assert result.rc == ExitCode.OK, result.describe()
        assert len(posts(node.leaders["chainfire"])) == 1
    else:
        assert result.rc == ExitCode.FAILED, result.describe()
        assert markers_in(fba.state_dir) == []
        assert "another cluster's list" in result.output, result.describe()


def test_a_list_that_names_another_cluster_is_refused(fba: Fba, node: Node, servers: Servers) -> None:
    """K11, by the contract's `cluster`: a list of another cluster on our leader's own host."""
    other, cluster = other_cluster(servers, named="elsewhere")
    closed = f"http://127.0.0.1:{free_port()}"
    fba.write_config(node.config(leader_url=closed, services={"chainfire": {"leader_url": closed}},
                                 discovery={"peer_urls": [other.url]}, join={"max_attempts": 2}))  # fmt: skip

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.FAILED, result.describe()
    assert posts(other) == [] and NODE_ID not in cluster.member_ids()
    assert "a member list of cluster 'elsewhere', not 'testcluster'" in result.output, result.describe()


def test_leave_member_never_removes_another_clusters_member(fba: Fba, node: Node, servers: Servers) -> None:
    """K11: `fba leave --member x22` (the report's advice) removed x22 from the other cluster,
    whose later-term list still listed it."""
    leader = node.leader()
    other, cluster = other_cluster(servers)
    services = {"chainfire": {"leader_url": leader.url}}
    fba.write_config(node.config(leader_url=leader.url, services=services, discovery={"peer_urls": [other.url]}))

    result = fba.run("leave", "--service", "chainfire", "--member", "x22")

    assert result.rc == ExitCode.ALREADY_DONE, result.describe()
    assert "x22" in cluster.member_ids()
    assert other.requests_to("DELETE", "/admin/member/x22") == []


def test_a_report_does_not_judge_this_node_by_another_clusters_list(fba: Fba, node: Node, servers: Servers) -> None:
    """K11: the report read the other cluster's later-term list ("node04 not in ['x21', 'x22']")
    and advised removing x22."""
    healthy_node(node)
    other, _ = other_cluster(servers)
    leader = node.leaders["chainfire"]
    fba.write_config(node.config(discovery={"peer_urls": [other.url]},
                                 services={"chainfire": {"leader_url": leader.url}}))  # fmt: skip

    result = fba.run("health-report")

    summary = summary_of(result)
    assert "chainfire:member" not in summary["failed"], summary
    assert not any("x2" in name for name in summary["stale_members"]), summary


def test_the_leader_that_answered_the_report_is_never_stale(fba: Fba, node: Node) -> None:
    """K8: the leader's own entry advertises an api_url on another network (not reachable from
    here); the leader answered this report at the configured URL, named by its own list."""
    healthy_node(node)
    cluster = node.clusters["chainfire"]
    unreachable = f"http://127.0.0.1:{free_port()}"
    cluster.members[cluster.leader_id]["api_url"] = unreachable  # its own entry; `leader` still names leader.url
    fba.write_config(node.config())

    result = fba.run("health-report")

    summary = summary_of(result)
    assert result.rc == ExitCode.HEALTHY, result.describe()
    assert summary["stale_members"] == [], summary
    assert result.with_message("leads and answered this report"), result.describe()
