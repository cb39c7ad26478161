"""Helpers for the health-report tests: a node whose peers all answer healthy, a one-node
bootstrap cluster of this node alone, and the one summary line `fba health-report` prints."""

from __future__ import annotations

from typing import Any

from .conftest import NODE_ID, Fba, FbaResult, Node
from .fakes import FakeServer


def report_peers(node: Node) -> dict[str, FakeServer]:
    return {service: node.peer(service) for service in ("chainfire", "flaredb", "iam")}


def healthy_node(node: Node) -> dict[str, FakeServer]:
    node.serve_members()
    node.list_self()
    node.leader("chainfire")
    node.leader("flaredb")
    return report_peers(node)


def summary_of(result: FbaResult) -> dict[str, Any]:
    lines = [line for line in result.lines if "summary" in line.get("context", {})]
    assert len(lines) == 1, result.describe()
    summary = lines[0]["context"]["summary"]
    assert isinstance(summary, dict)
    return summary


def one_node_cluster(fba: Fba, node: Node) -> None:
    """This node alone, a bootstrap node seeded from its name (`initial_peers: ["node04:2380"]`,
    the design's form): each service lists only this member, as written."""
    node.serve_members()
    node.clusters["chainfire"].add_member(NODE_ID, f"{NODE_ID}:2380", node.chainfire.url)
    node.clusters["flaredb"].add_member(NODE_ID, f"{NODE_ID}:2480", node.flaredb.url)
    fba.write_config(node.config(bootstrap=True, initial_peers=[f"{NODE_ID}:2380"]))
