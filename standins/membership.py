"""Membership rules without sockets: who conflicts with whom, and where a member's API is.

Pure functions over `MemberRecord` values, so the 409 decisions and URL derivation are unit
tested in milliseconds and the Raft layer only has to supply the current list.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from standins.contract import Member, split_host_port


@dataclass(frozen=True, order=True)
class MemberRecord:
    """One member: id, Raft address (its identity inside pysyncobj) and API URL."""

    id: str
    raft_addr: str
    api_url: str

    def body(self) -> Member:
        return Member(id=self.id, raft_addr=self.raft_addr, api_url=self.api_url)

    @classmethod
    def from_body(cls, member: Member) -> MemberRecord:
        return cls(member.id, member.raft_addr, member.api_url.rstrip("/"))


def derive_api_url(raft_addr: str, scheme: str, api_port: int) -> str:
    """The API URL of a member given only its Raft address: same host, our API port."""
    host, _ = split_host_port(raft_addr)
    return f"{scheme}://{host}:{api_port}"


def conflict(members: Iterable[MemberRecord], member_id: str,
             raft_addr: str) -> MemberRecord | None:
    """The existing member that makes adding (member_id, raft_addr) a 409, if any.

    The id wins over the address: a node re-posting its own add must see itself, with
    whatever address the cluster has for it, so the client can compare.
    """
    members = list(members)
    for member in members:
        if member.id == member_id:
            return member
    for member in members:
        if member.raft_addr == raft_addr:
            return member
    return None


def find(members: Iterable[MemberRecord], member_id: str) -> MemberRecord | None:
    """The member with this id, or None."""
    return next((m for m in members if m.id == member_id), None)


def sorted_bodies(members: Sequence[MemberRecord]) -> list[Member]:
    """Members as response bodies, in a stable order (by id)."""
    return [m.body() for m in sorted(members)]
