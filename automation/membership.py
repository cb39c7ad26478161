"""Reading a member list from `GET /admin/members` and comparing it with this node."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from automation.http import Response


@dataclass(frozen=True)
class Member:
    id: str
    raft_addr: str
    api_url: str | None = None


@dataclass(frozen=True)
class MemberView:
    members: tuple[Member, ...]
    leader_url: str | None
    has_quorum: bool | None
    change_in_flight: bool | None

    def find(self, member_id: str) -> Member | None:
        return next((m for m in self.members if m.id == member_id), None)

    def by_addr(self, raft_addr: str) -> Member | None:
        return next((m for m in self.members if m.raft_addr == raft_addr), None)


def parse_member(value: Any) -> Member | None:
    if not isinstance(value, dict):
        return None
    member_id, addr = value.get("id"), value.get("raft_addr")
    if not isinstance(member_id, str) or not isinstance(addr, str):
        return None
    api = value.get("api_url")
    return Member(member_id, addr, api if isinstance(api, str) else None)


def parse_view(reply: Response) -> MemberView | None:
    """None when the body is not a member list we understand."""
    body = reply.json_object()
    raw = body.get("members")
    if not isinstance(raw, list):
        return None
    members = tuple(m for m in (parse_member(v) for v in raw) if m is not None)
    leader = body.get("leader")
    leader_url = leader.get("api_url") if isinstance(leader, dict) else body.get("leader_url")
    quorum = body.get("has_quorum")
    in_flight = body.get("change_in_flight")
    return MemberView(
        members=members,
        leader_url=leader_url if isinstance(leader_url, str) else None,
        has_quorum=quorum if isinstance(quorum, bool) else None,
        change_in_flight=in_flight if isinstance(in_flight, bool) else None,
    )
