"""Break 12 (docs/failure-kinds.md, "Found by a seventh tester"), the join's verdicts after its
own add (K6) and a list that does not say it is settled (K9). Fake peers on loopback."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from automation.spec.exitcodes import ExitCode

from .conftest import NODE_ID, Fba, Node
from .expect import markers_in
from .fakes import Answer, Cluster

JOIN = ("join", "--service", "chainfire")


@dataclass
class TwinCluster(Cluster):
    """A leader that keys members by its own ids (etcd): a twin with our node_id, added between
    our first read and our add, is listed beside us."""

    def view(self) -> dict[str, Any]:
        body = super().view()
        if NODE_ID in self.added:
            body["members"].append({"id": NODE_ID, "raft_addr": "127.0.0.14:2380", "api_url": ""})
        return body


@dataclass
class FoldingCluster(Cluster):
    """A leader that stores member names lower-cased."""

    def add(self, body: Any, stop: threading.Event) -> Answer:
        return super().add({**body, "id": body["id"].lower()}, stop)


def test_a_twin_listed_after_our_accepted_add_is_not_called_a_refused_add(fba: Fba, node: Node) -> None:
    """K6: exit 3 said "refusing to add a duplicate" (README: "no member was added") after
    this run's add was accepted."""
    node.clusters["chainfire"] = TwinCluster()
    leader = node.leader()
    fba.write_config(node.config())

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.INVALID, result.describe()
    assert len(leader.requests_to("POST", "/admin/member/add")) == 1
    said = result.last["message"]
    assert "refusing to add" not in said and "member add was accepted" in said, said
    assert "This run added a member" in said and "by its Raft address" in said, said
    assert markers_in(fba.state_dir) == []


def test_a_leader_that_lower_cases_ids_is_named_after_our_accepted_add(fba: Fba, node: Node) -> None:
    """K6: `node_id: Node04`, the leader keeps `node04`: the verify read found our address under
    `node04` and said "refusing to add a duplicate" after adding it."""
    node.clusters["chainfire"] = FoldingCluster()
    leader = node.leader()
    fba.write_config(node.config(node_id="Node04"))

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.INVALID, result.describe()
    assert len(leader.requests_to("POST", "/admin/member/add")) == 1
    said = result.last["message"]
    assert "refusing to add" not in said and "differ only in case" in said and "set node_id to node04" in said, said
