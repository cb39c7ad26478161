"""Found by a fifth tester (break 10), at the process tier.

G8: a node configured `bootstrap: true` beside a live cluster at its `leader_url` (or another
configured peer) that does not list it refuses to form a second cluster (exit 3, cause
"cluster already exists"); a first bootstrap whose peers do not answer yet still forms it;
`health-report` does not call this node's own one-node list "the leader's list" when the
configured cluster answers and does not list it.

G5: a marker the prerequisite's join refuted (another node's, the leader does not list us) is
set aside (`<marker>.foreign`) and satisfies neither `--require-joined` nor `status`; a foreign
prerequisite marker not yet checked is checked by `--require-joined` with the join's rule.
"""

from __future__ import annotations

import json

import pytest

from automation.spec.exitcodes import ExitCode
from automation.spec.markers import MarkerIdentity, foreign_name

from .conftest import FBA, NODE_ID, RAFT_ADDR, Fba, Node, cause
from .expect import FLAREDB_JOINED, INITIALIZED, JOINED, markers_in
from .fakes import Answer, Cluster, FakeServer, Recorded, free_port
from .fakes_join import write_marker
from .reports import one_node_cluster, summary_of

JOIN = ("join", "--service", "chainfire")
FLAREDB_JOIN = ("join", "--service", "flaredb")
FLAREDB_INITIALIZED = ".flaredb-initialized"
NODE01 = MarkerIdentity("node01", "testcluster", "127.0.0.11:2380")


def _adds(server: FakeServer) -> list[Recorded]:
    return [r for r in server.requests if r.method == "POST"]


# G8 ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("service", ["chainfire", "flaredb"])
def test_a_bootstrap_node_beside_a_live_cluster_that_does_not_list_it_refuses(
    fba: Fba, node: Node, service: str
) -> None:
    leader = node.leader(service)
    fba.write_config(node.config(bootstrap=True, initial_peers=[f"{NODE_ID}={RAFT_ADDR}"]))

    result = fba.run("join", "--service", service)

    assert result.rc == ExitCode.INVALID, result.describe()
    assert any(cause(line) == "cluster already exists" for line in result.lines), result.describe()
    assert "refusing to bootstrap a second cluster" in result.output
    assert "Traceback" not in result.output
    assert markers_in(fba.state_dir) == []
    assert leader.requests_to("GET", "/admin/members") and _adds(leader) == []


def test_a_first_bootstrap_whose_peers_do_not_answer_yet_forms_the_cluster(fba: Fba, node: Node) -> None:
    """The first node of a new cluster has nobody to ask: peers that refuse connections (not
    started yet) veto nothing, and the check is bounded by two request timeouts."""
    closed = f"http://127.0.0.1:{free_port()}"
    fba.write_config(
        node.config(
            bootstrap=True,
            leader_url=closed,
            initial_peers=[RAFT_ADDR, "127.0.0.2:2380", "127.0.0.3:2380"],
            services={"chainfire": {"leader_url": closed}},
        )
    )

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.OK, result.describe()
    assert markers_in(fba.state_dir) == [INITIALIZED]
    assert result.elapsed_s < 10


def test_a_bootstrap_node_whose_forming_cluster_lists_it_forms_it(fba: Fba, node: Node) -> None:
    """A peer of the same new cluster (its initial_peers list this node) is no second cluster."""
    node.clusters["chainfire"].add_member(NODE_ID, RAFT_ADDR, node.chainfire.url)
    leader = node.leader()
    fba.write_config(node.config(bootstrap=True, initial_peers=[RAFT_ADDR, "127.0.0.2:2380"]))

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.OK, result.describe()
    assert markers_in(fba.state_dir) == [INITIALIZED]
    assert _adds(leader) == []


def test_health_report_does_not_call_a_one_node_list_the_leaders_when_the_cluster_disagrees(
    fba: Fba, node: Node
) -> None:
    node.serve_members()
    node.clusters["chainfire"].add_member(NODE_ID, RAFT_ADDR, node.chainfire.url)
    node.clusters["flaredb"].add_member(NODE_ID, "127.0.0.1:2480", node.flaredb.url)
    own = node.clusters["chainfire"]
    # This node's own services list only this node; the configured leader's cluster does not.
    node.clusters["chainfire"] = Cluster()
    node.leader("chainfire")
    node.chainfire.cluster = own
    fba.write_config(node.config(bootstrap=True, initial_peers=[f"{NODE_ID}={RAFT_ADDR}"]))

    result = fba.run("health-report")

    assert result.rc == ExitCode.UNHEALTHY, result.describe()
    summary = summary_of(result)
    assert "chainfire:member" in summary["failed"], summary
    check = next(c for c in summary["checks"] if c["name"] == "chainfire:member")
    assert node.chainfire.url not in check["detail"], check


def test_a_one_node_cluster_nobody_else_answers_for_is_named_as_its_own_list(fba: Fba, node: Node) -> None:
    one_node_cluster(fba, node)

    result = fba.run("health-report")

    assert result.rc == ExitCode.HEALTHY, result.describe()
    check = next(c for c in summary_of(result)["checks"] if c["name"] == "chainfire:member")
    assert "the leader's list" not in check["detail"] and "this node's own list" in check["detail"], check


# G5 ------------------------------------------------------------------------------------------


def _cloned_disk(fba: Fba, node: Node) -> None:
    """node01's `.chainfire-initialized` on node04's disk; chainfire's leader does not list
    node04 and refuses to add it; flaredb's leader would add anyone."""
    node.leader().script(
        "POST", "/admin/member/add", Answer(403, {"error": "forbidden: node04 not approved"}), repeat_last=True
    )
    node.leader("flaredb")
    fba.write_config(node.config())
    fba.state_dir.mkdir(mode=0o700)
    write_marker(fba.marker(INITIALIZED), NODE01)


def test_a_foreign_marker_the_join_refuted_does_not_satisfy_require_joined_or_status(fba: Fba, node: Node) -> None:
    _cloned_disk(fba, node)

    chainfire = fba.run(*JOIN)
    flaredb = fba.run(*FLAREDB_JOIN, "--require-joined", "chainfire")
    status = fba._run([str(FBA), "--state-dir", str(fba.state_dir), "status", "--timeout", "1", "--format", "json"],
                      fba.env(), 10.0)  # fmt: skip

    assert chainfire.rc == ExitCode.FAILED, chainfire.describe()
    assert not fba.marker(INITIALIZED).exists()
    assert fba.marker(foreign_name(INITIALIZED)).exists(), "the refuted marker is kept, aside"
    assert flaredb.rc == ExitCode.FAILED, flaredb.describe()
    assert any(cause(line) == "prerequisite not joined yet" for line in flaredb.lines), flaredb.describe()
    assert _adds(node.leaders["flaredb"]) == []
    assert FLAREDB_JOINED not in markers_in(fba.state_dir)
    steps = {s["unit"]: s for s in json.loads(status.stdout)["steps"]}
    assert steps["chainfire-cluster-join.service"]["state"] != "done", status.describe()
    assert any("another node's marker" in p for p in steps["chainfire-cluster-join.service"]["problems"])


def test_require_joined_checks_an_unchecked_foreign_prerequisite_marker_with_the_joins_rule(
    fba: Fba, node: Node
) -> None:
    """chainfire's join has not run (or ran before the leader answered): `--require-joined`
    asks chainfire's leader itself; a list that does not list us refutes the marker."""
    _cloned_disk(fba, node)

    flaredb = fba.run(*FLAREDB_JOIN, "--require-joined", "chainfire")

    assert flaredb.rc == ExitCode.FAILED, flaredb.describe()
    assert any(cause(line) == "prerequisite not joined yet" for line in flaredb.lines), flaredb.describe()
    assert _adds(node.leaders["flaredb"]) == [] and _adds(node.leaders["chainfire"]) == []
    assert fba.marker(foreign_name(INITIALIZED)).exists() and not fba.marker(INITIALIZED).exists()


def test_require_joined_takes_a_foreign_prerequisite_marker_the_leader_confirms(fba: Fba, node: Node) -> None:
    """The leader lists this node: the marker is true, re-written for this node; flaredb joins."""
    _cloned_disk(fba, node)
    node.clusters["chainfire"].add_member(NODE_ID, RAFT_ADDR, node.chainfire.url)

    flaredb = fba.run(*FLAREDB_JOIN, "--require-joined", "chainfire")

    assert flaredb.rc == ExitCode.OK, flaredb.describe()
    assert fba.marker(INITIALIZED).exists() and NODE_ID in fba.marker(INITIALIZED).read_text()
    assert JOINED not in markers_in(fba.state_dir)
