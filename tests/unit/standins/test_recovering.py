"""A restarted node that has not re-applied its journal neither serves nor acts on its list."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any, cast

import pytest

from standins.cluster_api import ClusterApp
from standins.config import parse_config
from standins.contract import Service
from standins.lifecycle import ClusterNode
from standins.membership import MemberRecord
from standins.server import Request

STALE = [
    MemberRecord("node01", "127.0.1.1:2380", "http://127.0.1.1:2379"),
    MemberRecord("node02", "127.0.1.2:2380", "http://127.0.1.2:2379"),
    MemberRecord("node03", "127.0.1.3:2380", "http://127.0.1.3:2379"),
]


class RecoveringLeader:
    """A leader (by its own Raft state) whose list is still the one it restarted from."""

    def __init__(self, recovered: bool) -> None:
        self._recovered = recovered
        self.submitted: list[str] = []

    def recovered(self) -> bool:
        return self._recovered

    def members(self) -> list[MemberRecord]:
        return list(STALE)

    def me(self) -> MemberRecord:
        return STALE[0]

    def is_leader(self) -> bool:
        return True

    def leader(self) -> MemberRecord:
        return STALE[0]

    def term(self) -> int:
        return 7

    def has_quorum(self) -> bool:
        return True

    def __getattr__(self, name: str) -> Any:  # any Raft action is recorded, never done
        self.submitted.append(name)
        raise AssertionError(f"acted on a stale list: {name}")


class FakeNode:
    """The parts of ClusterNode the API reads; a start notice is recorded, not sent."""

    def __init__(self, tmp_path: Path, raft: RecoveringLeader) -> None:
        self.cfg = parse_config(
            Service.CHAINFIRE, ["--node-id", "node01", "--raft-addr", "127.0.1.1:2380", "--data-dir", str(tmp_path)], {}
        )
        self.change_lock = threading.Lock()
        self.raft = raft
        self.notified: list[str] = []

    def health_ready(self) -> bool:
        return True

    def notify_added(self, added: MemberRecord, members: list[MemberRecord]) -> None:
        self.notified.append(added.id)


def _app(tmp_path: Path, raft: RecoveringLeader) -> ClusterApp:
    return ClusterApp(cast(ClusterNode, FakeNode(tmp_path, raft)))


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("DELETE", "/admin/member/node04", None),  # stale: 404 "not a member"
        ("POST", "/admin/member/add", {"id": "node04", "raft_addr": "127.0.1.4:2380"}),
        ("POST", "/admin/member/add", {"id": "node02", "raft_addr": "127.0.1.2:2380"}),
    ],
)
def test_admin_changes_wait_until_the_journal_is_re_applied(
    tmp_path: Path, method: str, path: str, body: object
) -> None:
    raft = RecoveringLeader(recovered=False)
    raw = b"" if body is None else json.dumps(body).encode()
    answer = _app(tmp_path, raft).handle(Request(method, path, body=raw))
    assert answer.status == 503
    assert answer.body["error"] == "membership change in flight"
    assert ("Retry-After", "1") in answer.headers
    assert raft.submitted == []


def test_views_say_recovering_then_settled(tmp_path: Path) -> None:
    raft = RecoveringLeader(recovered=False)
    app = _app(tmp_path, raft)
    health = app.handle(Request("GET", "/health"))
    assert (health.status, health.body) == (503, {"status": "recovering"})
    members = app.handle(Request("GET", "/admin/members"))
    assert members.status == 200 and members.body["change_in_flight"] is True
    raft._recovered = True
    assert app.handle(Request("GET", "/health")).status == 200
    assert app.handle(Request("GET", "/admin/members")).body["change_in_flight"] is False
