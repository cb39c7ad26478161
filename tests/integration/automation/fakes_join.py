"""Fakes for the join's trust tests (hints, proof of membership, markers): a cluster whose
member list stays unsettled for a while after an add, and markers as other nodes left them."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from automation.spec.markers import MarkerIdentity, render_marker

from .conftest import NODE_ID, RAFT_ADDR, Node, Servers
from .fakes import Answer, Cluster, FakeServer


@dataclass
class SettlingCluster(Cluster):
    """After the first add, the next `unsettled_reads` member lists carry `unsettled` (e.g.
    `has_quorum: false`, our entry as a learner); then the list is the plain one. A negative
    count means "for ever". Mutable on purpose, like `Cluster`."""

    unsettled_reads: int = 0
    unsettled: dict[str, Any] = field(default_factory=dict)
    learner: bool = False  # our entry says `is_learner: true` while unsettled
    reads_after_add: int = 0

    def view(self) -> dict[str, Any]:
        body = super().view()
        with self.lock:
            if not self.added:
                return body
            self.reads_after_add += 1
            settling = self.unsettled_reads < 0 or self.reads_after_add <= self.unsettled_reads
        if not settling:
            return body
        if self.learner:
            body["members"] = [{**m, "is_learner": m["id"] in self.added} for m in body["members"]]
        return {**body, **self.unsettled}


def write_marker(path: Path, identity: MarkerIdentity | None, stamp: str = "2026-11-01T10:00:00+00:00") -> str:
    """A marker as fba writes it for `identity`; with None, the pre-identity two-line form."""
    text = render_marker(stamp, identity)
    path.write_text(text)
    path.chmod(0o600)
    return text


def write_old_marker(path: Path, stamp: str = "2026-11-01T10:00:00+00:00") -> str:
    """The two-line marker of fba before identities (what the shared `clone` case plants)."""
    text = f"{stamp}\nsha256:{hashlib.sha256(stamp.encode()).hexdigest()}\n"
    path.write_text(text)
    path.chmod(0o600)
    return text


HINT_WAYS = ["list leader", "307 on the add", "421 on the list"]


def hint_leader_at(leader: FakeServer, view: dict[str, Any], how: str, url: str, leader_id: str | None = None) -> None:
    """Make `leader` point the join at `url`, one of `HINT_WAYS`: its list's `leader`, a 307 on
    the add, or a 421 on the list (the three places a peer names a leader)."""
    if how == "list leader":
        named = {"api_url": url} if leader_id is None else {"id": leader_id, "api_url": url}
        leader.script("GET", "/admin/members", Answer(200, {**view, "leader": named}), repeat_last=True)
    elif how == "307 on the add":
        leader.script("POST", "/admin/member/add", Answer(307, {}, {"Location": f"{url}/admin/member/add"}),
                      repeat_last=True)  # fmt: skip
    else:
        leader.script("GET", "/admin/members", Answer(421, {"error": "not the leader"}, {"X-Leader-URL": url}),
                      repeat_last=True)  # fmt: skip


def stale_leader(
    servers: Servers, *, term: int = 3, members: tuple[dict[str, str], ...] = (), knows_leader: bool = True
) -> FakeServer:
    """A leader cut off from the others (break 10, G2/G3): it still names itself leader of
    `term`, claims quorum, lists `members` (what was true in its term) and answers a DELETE of
    anyone else 404 "not a member", as a real cut-off old leader does."""
    cluster = Cluster(leader_id="old0", leader_raft_addr="127.0.0.8:2380", term=term)
    server: FakeServer = servers.start("stale", cluster=cluster)
    if knows_leader:
        # Cut off from the cluster it led, it still lists that cluster's members: the current
        # leader (`Cluster`'s leader0) among them. A list sharing no member with ours is
        # another cluster's, whose terms say nothing about ours (break 12, K11).
        cluster.add_member("leader0", "127.0.0.9:2380")
    for member in members:
        cluster.add_member(member["id"], member["raft_addr"], member.get("api_url", ""))
    return server


def own_health(node: Node, leader_id: str, role: str) -> Answer:
    """This node's chainfire `/health` (the contract's Health) naming `leader_id`."""
    me = {"id": NODE_ID, "raft_addr": RAFT_ADDR, "api_url": node.chainfire.url}
    return Answer(200, {"status": "ok", "service": "chainfire", "node_id": NODE_ID, "role": role,
                        "leader": {"id": leader_id, "api_url": node.chainfire.url}, "term": 1, "members": [me],
                        "has_quorum": True, "change_in_flight": False})  # fmt: skip
