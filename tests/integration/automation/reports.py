"""Helpers for the health-report tests: a node whose peers all answer healthy, and the one
summary line `fba health-report` prints."""

from __future__ import annotations

from typing import Any

from .conftest import FbaResult, Node
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
