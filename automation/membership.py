"""Reading a member list from `GET /admin/members` and judging what it proves about a node.

Only a final read proves membership (kind E): the node is listed with its own Raft address,
as a voter (not a learner still catching up, as etcd's are), by a cluster that has quorum and
no membership change in flight, or that says so with an explicit `committed: true`. A list
that lists us with anything less is "pending": the join waits for it within its deadline.
A list is also checked to belong to the service asked (kind D): its `service` field when it
has one, else its members' Raft ports.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from automation.http import Response


@dataclass(frozen=True)
class Member:
    id: str
    raft_addr: str
    api_url: str | None = None
    learner: bool = False  # etcd's is_learner / a `status` of learner or pending: not a voter yet

    @property
    def raft_port(self) -> int | None:
        port = self.raft_addr.rpartition(":")[2]
        return int(port) if port.isdigit() else None


@dataclass(frozen=True)
class MemberView:
    members: tuple[Member, ...]
    leader_url: str | None
    has_quorum: bool | None
    change_in_flight: bool | None
    service: str | None = None  # which service's list this is, when the answer says
    leader_known: bool = False  # the answer has a `leader` field (null: it knows of no leader)
    committed: bool | None = None  # an explicit "the last change is committed" flag

    def find(self, member_id: str) -> Member | None:
        return next((m for m in self.members if m.id == member_id), None)

    @property
    def no_leader(self) -> bool:
        """The answer says there is no leader (`leader: null`, and no claim of quorum), not merely
        that it does not say. A follower with quorum that does not name its leader is not this:
        its answer to an add names the leader (421/307)."""
        return self.leader_known and self.leader_url is None and self.has_quorum is not True

    def unsettled(self) -> list[str]:
        """Why this list cannot prove anything yet (empty: it can)."""
        if self.committed is True:
            return []
        reasons = []
        if self.committed is False:
            reasons.append("the answer says the change is not committed")
        if self.has_quorum is False:
            reasons.append("no quorum")
        if self.change_in_flight:
            reasons.append("a membership change in flight")
        if self.no_leader:
            reasons.append("no leader")
        return reasons


class Proof(StrEnum):
    PROVEN = "proven"  # listed as a voter, with our Raft address, in a settled list
    PENDING = "pending"  # listed, but the list is not settled or we are a learner
    ABSENT = "absent"  # not listed (by id or by Raft address)
    CONFLICT = "conflict"  # our id with another address, or our address under another id


@dataclass(frozen=True)
class Judgement:
    verdict: Proof
    detail: str = ""


def names_us(listed: str, node_id: str, raft_addr: str) -> bool:
    """Whether a member list's `listed` Raft address is this node's `raft_addr` (IPv4:port).

    Besides the same text, `node_id:port` with our port: the design's `initial_peers` form
    `host:port` names a peer by its id (`node01:2380`), and a bootstrap cluster's members
    are listed as its peers were written. Comparing text alone made a healthy one-node cluster
    seeded from `node01:2380` report its own member as a conflict."""
    if listed == raft_addr:
        return True
    host, _, port = listed.rpartition(":")
    return host == node_id and port == raft_addr.rpartition(":")[2]


def judge(view: MemberView, node_id: str, raft_addr: str) -> Judgement:
    """What this member list proves about node `node_id` at `raft_addr`."""
    ours = view.find(node_id)
    other = next((m for m in view.members if names_us(m.raft_addr, node_id, raft_addr)), None)
    if ours is None and other is None:
        return Judgement(Proof.ABSENT, f"{node_id} not in {[m.id for m in view.members]}")
    if ours is not None and not names_us(ours.raft_addr, node_id, raft_addr):
        return Judgement(
            Proof.CONFLICT,
            f"{node_id} is listed with raft_addr {ours.raft_addr}, but this node is configured with {raft_addr}",
        )
    if other is not None and other.id != node_id:
        return Judgement(Proof.CONFLICT, f"raft_addr {raft_addr} is already used by member {other.id}")
    reasons = view.unsettled()
    if ours is not None and ours.learner:
        reasons.append("listed as a learner (not yet a voting member)")
    if reasons:
        return Judgement(Proof.PENDING, f"listed but not committed: {', '.join(reasons)}")
    return Judgement(Proof.PROVEN, f"listed as {raft_addr}")


def judge_removed(view: MemberView, node_id: str) -> Judgement:
    """For `leave`: gone from a settled list (PROVEN), still listed or unsettled (PENDING)."""
    if view.find(node_id) is not None:
        return Judgement(Proof.PENDING, f"{node_id} still listed")
    reasons = view.unsettled()
    if reasons:
        return Judgement(Proof.PENDING, f"not listed, but the list is not settled: {', '.join(reasons)}")
    return Judgement(Proof.PROVEN, f"{node_id} not listed")


def parse_member(value: Any) -> Member | None:
    if not isinstance(value, dict):
        return None
    member_id, addr = value.get("id"), value.get("raft_addr")
    if not isinstance(member_id, str) or not isinstance(addr, str):
        return None
    api = value.get("api_url")
    status = value.get("status")
    learner = value.get("is_learner") is True or (isinstance(status, str) and status.lower() in LEARNER_STATUSES)
    return Member(member_id, addr, api if isinstance(api, str) else None, learner)


LEARNER_STATUSES = frozenset({"learner", "pending", "joining", "catching-up"})


class BadMemberList(ValueError):
    """A member list that breaks the contract: members that are not member objects (no string
    `id` and `raft_addr`), or a `service` that is not a string. It is a bad answer, never a
    list that merely lacks us: an entry we cannot read may be ours."""


def parse_view(reply: Response) -> MemberView | None:
    """None when the body is not a member list we understand, or breaks the contract."""
    try:
        return read_view(reply)
    except BadMemberList:
        return None


def read_view(reply: Response) -> MemberView | None:
    """None when the body has no `members` array; raises BadMemberList when it has one that
    breaks the contract (what is wrong is the message)."""
    body = reply.json_object()
    raw = body.get("members")
    if not isinstance(raw, list):
        return None
    members = tuple(parse_member(v) for v in raw)
    bad = [raw[i] for i, member in enumerate(members) if member is None]
    if bad:
        shown = ", ".join(repr(v)[:40] for v in bad[:3])
        raise BadMemberList(f"{len(bad)} of {len(raw)} members are not member objects with id and raft_addr: {shown}")
    service = body.get("service")
    if service is not None and not isinstance(service, str):
        raise BadMemberList(f"`service` is not a string: {service!r:.40}")
    leader = body.get("leader")
    leader_url = leader.get("api_url") if isinstance(leader, dict) else body.get("leader_url")
    quorum = body.get("has_quorum")
    in_flight = body.get("change_in_flight")
    committed = body.get("committed")
    return MemberView(
        members=tuple(m for m in members if m is not None),
        leader_url=leader_url if isinstance(leader_url, str) and leader_url else None,
        has_quorum=quorum if isinstance(quorum, bool) else None,
        change_in_flight=in_flight if isinstance(in_flight, bool) else None,
        service=service,
        leader_known="leader" in body or "leader_url" in body,
        committed=committed if isinstance(committed, bool) else None,
    )
