"""Break 11 (docs/failure-kinds.md, "Found by a sixth tester"), at the process tier.

H1, H3, H6: Raft terms never go back. Within one run fba keeps the highest term it has seen
(from any peer, any read, and this node's own service as a witness) as a floor: a list of an
older term is no proof, in the join, the leave and the report.

H7: a bootstrap node whose own service leads a one-node cluster of its own, beside the cluster
its peers run (which still lists its old incarnation), forms no second cluster.
Fake peers on loopback; each test failed before its fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from automation.spec.exitcodes import ExitCode
from automation.spec.markers import MarkerIdentity

from .conftest import NODE_ID, RAFT_ADDR, Fba, Node, Servers, cause
from .expect import INITIALIZED, JOINED, markers_in
from .fakes import Answer, Cluster
from .fakes_join import own_health, stale_leader, write_marker
from .reports import healthy_node, summary_of

JOIN = ("join", "--service", "chainfire")
LEAVE = ("leave", "--service", "chainfire")


@dataclass
class TermBack(Cluster):
    """One leader URL (a VIP) whose lists go back to term `after` once the cluster changed (an
    add or a removal): the address failed over to a cut-off ex-leader that took the change.
    Mutable on purpose, like `Cluster`."""

    after: int = 2
    changed: bool = False

    def view(self) -> dict[str, Any]:
        body = super().view()
        with self.lock:
            back = self.changed or bool(self.added)
        return {**body, "term": self.after} if back else body

    def remove(self, member_id: str) -> Answer:
        answer = super().remove(member_id)
        with self.lock:
            self.changed = True
        return answer


# H1 ------------------------------------------------------------------------------------------


def test_a_join_takes_no_list_older_than_one_the_same_leader_url_showed(fba: Fba, node: Node) -> None:
    """H1: term 5 before the add, term 2 (listing us) after it, from the same URL: exit 0 and a
    marker from the older list, no second look. Now no proof: read again until the deadline."""
    node.clusters["chainfire"] = TermBack(term=5, after=2)
    leader = node.leader()
    fba.write_config(node.config(join={"deadline_s": 3}))

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.FAILED, result.describe()
    assert markers_in(fba.state_dir) == [], result.describe()
    assert len(leader.requests_to("POST", "/admin/member/add")) == 1
    assert len(leader.requests_to("GET", "/admin/members")) > 2  # read again, not believed
    assert cause(result.last) == "not the leader", result.describe()
    assert "term 2" in result.output and "term 5" in result.output


def test_a_join_takes_a_list_of_a_later_term_than_it_saw(fba: Fba, node: Node) -> None:
    """H1, the other side: terms go up (an election after the add): the later list proves it."""
    node.clusters["chainfire"] = TermBack(term=5, after=6)
    leader = node.leader()
    fba.write_config(node.config(join={"deadline_s": 3}))

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.OK, result.describe()
    assert markers_in(fba.state_dir) == [JOINED]
    assert len(leader.requests_to("POST", "/admin/member/add")) == 1


# H3 ------------------------------------------------------------------------------------------


def test_a_leave_takes_no_gone_older_than_the_listed_it_saw(fba: Fba, node: Node) -> None:
    """H3: the leader URL lists this node in term 5; after the DELETE its list is of term 2 and
    lacks it: exit 0, marker deleted. Now `removal not confirmed`, the marker kept aside."""
    node.clusters["chainfire"] = TermBack(term=5, after=2)
    node.clusters["chainfire"].add_member(NODE_ID, RAFT_ADDR, node.chainfire.url)
    node.leader()
    fba.write_config(node.config(join={"deadline_s": 3}))
    fba.state_dir.mkdir(mode=0o700, exist_ok=True)
    write_marker(fba.state_dir / JOINED, MarkerIdentity(NODE_ID, "testcluster", RAFT_ADDR))

    result = fba.run(*LEAVE)

    assert result.rc == ExitCode.FAILED, result.describe()
    assert any(cause(line) == "removal not confirmed" for line in result.lines), result.describe()
    assert markers_in(fba.state_dir) == [f"{JOINED}.leaving"], result.describe()


# H6 ------------------------------------------------------------------------------------------


def _stale_listing_the_leader(servers: Servers, node: Node, *, term: int) -> str:
    """A cut-off ex-leader (term `term`) whose list holds this node and the current leader."""
    me = {"id": NODE_ID, "raft_addr": RAFT_ADDR, "api_url": node.chainfire.url}
    current = {"id": "leader0", "raft_addr": "127.0.0.9:2380", "api_url": node.leaders["chainfire"].url}
    return stale_leader(servers, term=term, members=(me, current)).url


def test_a_report_asks_the_later_terms_leader_its_own_list_names(fba: Fba, node: Node, servers: Servers) -> None:
    """H6: the configured leader answers term 2 listing this node; this node's own list names
    leader0 (a member of that list) in term 9, whose list does not hold this node: a WARN and
    "Cluster healthy". Now leader0 is asked, and the member check fails."""
    healthy_node(node)
    node.clusters["chainfire"].term = 9
    node.clusters["chainfire"].members.pop(NODE_ID)
    stale = _stale_listing_the_leader(servers, node, term=2)
    fba.write_config(node.config(leader_url=stale, services={"chainfire": {"leader_url": stale}}))

    result = fba.run("health-report")

    assert result.rc == ExitCode.UNHEALTHY, result.describe()
    summary = summary_of(result)
    assert "chainfire:member" in summary["failed"], summary
    assert node.leaders["chainfire"].requests_to("GET", "/admin/members"), result.describe()


def test_a_report_believes_the_later_term_its_own_list_names(fba: Fba, node: Node, servers: Servers) -> None:
    """H6, the other side: the leader our own list names lists this node: healthy, from its list."""
    healthy_node(node)
    node.clusters["chainfire"].term = 9
    stale = _stale_listing_the_leader(servers, node, term=2)
    fba.write_config(node.config(leader_url=stale, services={"chainfire": {"leader_url": stale}}))

    result = fba.run("health-report")

    assert result.rc == ExitCode.HEALTHY, result.describe()
    check = next(c for c in summary_of(result)["checks"] if c["name"] == "chainfire:member")
    assert node.leaders["chainfire"].url in check["detail"], check


def test_our_own_cluster_of_its_own_is_no_witness_of_a_later_term(fba: Fba, node: Node) -> None:
    """H6's limit: a one-node cluster of our own counts its terms apart (another cluster): its
    high term does not hold the real leader's list below it."""
    healthy_node(node)
    node.chainfire.cluster = None  # our own chainfire: a cluster of its own, in term 50
    mine = own_health(node, NODE_ID, "leader").body
    node.chainfire.script("GET", "/admin/members", Answer(200, {**mine, "term": 50}), repeat_last=True)

    fba.write_config(node.config())
    result = fba.run("health-report")

    check = next(c for c in summary_of(result)["checks"] if c["name"] == "chainfire:member")
    assert check["ok"], result.describe()


# H7 ------------------------------------------------------------------------------------------


def _peers_cluster_listing_us(node: Node) -> str:
    """The cluster the peers run, in term 7 under leader0, still listing this node."""
    cluster = node.clusters["chainfire"]
    cluster.term = 7
    cluster.add_member(NODE_ID, RAFT_ADDR, node.chainfire.url)
    cluster.add_member("node03", "127.0.0.13:2380", "http://127.0.0.13:2379")
    return node.leader().url


def test_a_bootstrap_node_whose_own_service_runs_a_cluster_of_its_own_refuses(fba: Fba, node: Node) -> None:
    """H7: a re-imaged bootstrap node's own chainfire leads a one-node cluster (term 1) while
    its peers' cluster (term 7, leader0) still lists its old incarnation: "Bootstrap node",
    exit 0, `initialized`. Now exit 3, `own service in another cluster`, no marker."""
    leader = _peers_cluster_listing_us(node)
    node.chainfire.script("GET", "/health", own_health(node, NODE_ID, "leader"), repeat_last=True)
    fba.write_config(node.config(bootstrap=True, initial_peers=[f"{NODE_ID}={RAFT_ADDR}"]))

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.INVALID, result.describe()
    assert any(cause(line) == "own service in another cluster" for line in result.lines), result.describe()
    assert markers_in(fba.state_dir) == []
    assert node.leaders["chainfire"].requests_to("POST", "/admin/member/add") == []
    assert leader in result.output


def test_a_bootstrap_node_whose_own_service_follows_its_peers_forms_nothing_new(fba: Fba, node: Node) -> None:
    """H7, the other side: our own service follows the peers' leader: the cluster it forms."""
    _peers_cluster_listing_us(node)
    me = {"id": NODE_ID, "raft_addr": RAFT_ADDR, "api_url": node.chainfire.url}
    body = own_health(node, "leader0", "follower").body
    follows = {**body, "leader": {"id": "leader0", "api_url": node.leaders["chainfire"].url},
               "members": [me, {"id": "leader0", "raft_addr": "127.0.0.9:2380"}], "term": 7}  # fmt: skip
    node.chainfire.script("GET", "/health", Answer(200, follows), repeat_last=True)
    fba.write_config(node.config(bootstrap=True, initial_peers=[f"{NODE_ID}={RAFT_ADDR}"]))

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.OK, result.describe()
    assert markers_in(fba.state_dir) == [INITIALIZED]
