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
from automation.spec.numbers import port_number
from automation.spec.urls import host_key, names_us


@dataclass(frozen=True)
class Member:
    id: str
    raft_addr: str
    api_url: str | None = None
    # Why this entry is not (yet) a voting member, in its own words (`is_learner: true`,
    # `status: "unstarted"`); empty for a voter.
    not_voter: str = ""

    @property
    def learner(self) -> bool:
        return bool(self.not_voter)

    @property
    def raft_port(self) -> int | None:
        return port_number(self.raft_addr.rpartition(":")[2])  # a peer's text: '²' is no port


@dataclass(frozen=True)
class MemberView:
    members: tuple[Member, ...]
    leader_url: str | None  # the leader's API URL as named: `leader.api_url`, or its entry's by id
    has_quorum: bool | None
    change_in_flight: bool | None
    service: str | None = None  # which service's list this is, when the answer says
    leader_known: bool = False  # the answer has a `leader` field (null: it knows of no leader)
    committed: bool | None = None  # an explicit "the last change is committed" flag
    leader_id: str | None = None  # the leader's member id, when the answer names one
    term: int | None = None  # the Raft term the answer was given in, when it says (an integer)
    cluster: str | None = None  # the cluster's name (`cluster_name`), when the answer says (break 12, K11)

    def keys(self) -> frozenset[tuple[str, str]]:
        """Its members as (id, Raft address as the connection resolves it): what tells one
        cluster's lists from another's when they do not name their cluster (`discovery.foreign_list`)."""
        return frozenset((m.id, raft_key(m.raft_addr)) for m in self.members)

    def find(self, member_id: str) -> Member | None:
        return next((m for m in self.members if m.id == member_id), None)

    def peers_of(self, node_id: str) -> bool:
        """Whether this list holds a member other than `node_id`. A list that names `node_id`
        the leader and holds nobody else is no peer's (the peer would list itself): it is
        `node_id`'s own service answering at an address that led back to it (a load balancer,
        a wildcard listener), a one-node cluster of its own (break 10, G4)."""
        return any(m.id != node_id for m in self.members)

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
        # Not said (absent or null) is unknown, not yes: the contract requires both flags, and
        # only a list that says "quorum, nothing in flight" (or `committed: true`) proves
        # (break 12, K9: a list without them was taken as proof after one read).
        if self.has_quorum is False:
            reasons.append("no quorum")
        elif self.has_quorum is None:
            reasons.append("the list does not say it has quorum")
        if self.change_in_flight:
            reasons.append("a membership change in flight")
        elif self.change_in_flight is None:
            reasons.append("the list does not say whether a membership change is in flight")
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


def raft_key(addr: str) -> str:
    """`host:port` with the host as the connection resolves it (`spec.urls.host_key`)."""
    host, _, port = addr.rpartition(":")
    return f"{host_key(host)}:{port}"


def judge(view: MemberView, node_id: str, raft_addr: str) -> Judgement:
    """What this member list proves about node `node_id` at `raft_addr`.

    Every entry is looked at, not the first match: a list that names us twice (two addresses,
    or a voter and a learner) or gives our Raft address to another id is a conflict whatever
    the order of its entries, never a proof by whichever entry happened to come first."""
    ours = [m for m in view.members if m.id == node_id]
    at_our_addr = [m for m in view.members if names_us(m.raft_addr, node_id, raft_addr)]
    if not ours and not at_our_addr:
        return Judgement(Proof.ABSENT, f"{node_id} not in {[m.id for m in view.members]}")
    if len(ours) > 1:
        shown = ", ".join(f"{m.raft_addr}{f' ({m.not_voter})' if m.learner else ''}" for m in ours)
        return Judgement(Proof.CONFLICT, f"{node_id} is listed {len(ours)} times ({shown})")
    if ours and not names_us(ours[0].raft_addr, node_id, raft_addr):
        return Judgement(
            Proof.CONFLICT,
            f"{node_id} is listed with raft_addr {ours[0].raft_addr}, but this node is configured with {raft_addr}",
        )
    others = sorted({m.id for m in at_our_addr if m.id != node_id})
    if others:
        return Judgement(Proof.CONFLICT, f"raft_addr {raft_addr} is already used by member {', '.join(others)}")
    reasons = view.unsettled()
    if ours and ours[0].learner:
        reasons.append(f"listed as {ours[0].not_voter} (not yet a voting member)")
    if reasons:
        return Judgement(Proof.PENDING, f"listed but not committed: {', '.join(reasons)}")
    return Judgement(Proof.PROVEN, f"listed as {raft_addr}")


def judge_removed(view: MemberView, node_id: str, raft_addr: str | None = None) -> Judgement:
    """For `leave`: gone from a settled list (PROVEN), still listed or unsettled (PENDING).

    With `raft_addr` (this node leaving), "gone" is the join's judgement (`judge`) finding us
    ABSENT: a list that still holds our Raft address under any id, or our id at any address,
    still holds this node (leave dropped the markers while `"node04 "` kept our address).
    Another member's address is not known here: it is looked up by its id."""
    if raft_addr is not None:
        joined = judge(view, node_id, raft_addr)
        if joined.verdict is not Proof.ABSENT:
            return Judgement(Proof.PENDING, f"{node_id} still listed: {joined.detail}")
    elif view.find(node_id) is not None:
        return Judgement(Proof.PENDING, f"{node_id} still listed")
    reasons = view.unsettled()
    if reasons:
        return Judgement(Proof.PENDING, f"not listed, but the list is not settled: {', '.join(reasons)}")
    return Judgement(Proof.PROVEN, f"{node_id} not listed")


# A member's own word for its state (`status`, `state` or `role`), compared stripped and
# case-folded. The contract's Member (standins/openapi.yaml) has no such field, so an entry
# without one is a voter; one that has one is a voter only in these words. Any other word
# (etcd's `unstarted`, a `learner`, `pending`, `promoting`, or one fba has never seen) is no
# proof: "pending" until the list says `started`/`voter`, or the join's deadline (break 9, F16).
VOTER_WORDS = frozenset({"started", "voter", "leader", "follower", "active"})
STATE_KEYS = frozenset({"status", "state", "role"})
# Flags saying the entry is not a voter, by key as `_key_word` spells it: etcd's `is_learner`
# and its v3 gateway's `isLearner`, a bare `learner`; Consul's `Voter: false`.
LEARNER_FLAGS = frozenset({"islearner", "learner"})
VOTER_FLAGS = frozenset({"isvoter", "voter"})


def _key_word(key: str) -> str:
    """A key as compared: case-folded, without `_`/`-` (`is_learner`, `isLearner`, `IsLearner`)."""
    return key.casefold().replace("_", "").replace("-", "")


class BadMemberList(ValueError):
    """A member list that breaks the contract: members that are not member objects (no string
    `id` and `raft_addr`, or a field of the wrong type), or a `service`, flag or leader of the
    wrong type. It is a bad answer, never a list that merely lacks us: an entry we cannot read
    may be ours, and a flag we cannot read ("has_quorum": "false") may be the one that says
    the list proves nothing yet."""


def _typed(body: dict[str, Any], key: str, kind: type | tuple[type, ...], what: str) -> Any:
    """`body[key]` when absent, null or of `kind`; raises BadMemberList otherwise (one rule for
    every field read from a member list: a value of another type is never read as absent)."""
    value = body.get(key)
    if value is not None and not isinstance(value, kind):
        raise BadMemberList(f"`{key}` is not {what}: {value!r:.40}")
    return value


def read_member(value: Any) -> Member:
    """One entry of a member list; raises BadMemberList naming what is wrong with it."""
    if not isinstance(value, dict):
        raise BadMemberList(f"not a member object: {value!r:.40}")
    member_id, addr = value.get("id"), value.get("raft_addr")
    if not isinstance(member_id, str) or not isinstance(addr, str):
        raise BadMemberList(f"no string id and raft_addr: {value!r:.40}")
    api = _typed(value, "api_url", str, "a string")
    return Member(member_id, addr, api, _not_voter(value))


def _not_voter(value: dict[str, Any]) -> str:
    """Why entry `value` is not a started voter ("" when it is one).

    Every key is read, in any spelling of the known ones: an entry that says "learner" in a
    word or key fba did not look for was read as a voter (break 9: exit 0 and a marker for a
    member etcd calls `unstarted`). A key about learners or voters that fba does not read is
    a bad answer, never a silent voter."""
    said = []
    for key in value:
        word = _key_word(key)
        if word in STATE_KEYS:
            state = _typed(value, key, str, "a string")
            if state is not None and state.strip().casefold() not in VOTER_WORDS:
                said.append(f"a member whose `{key}` is {state!r:.40}, not a started voter")
        elif word in LEARNER_FLAGS or word in VOTER_FLAGS:
            flag = _typed(value, key, bool, "true or false")
            if flag is (word in LEARNER_FLAGS):
                said.append(f"a learner (`{key}`: {str(flag).lower()})")
        elif "learner" in word or "voter" in word:
            raise BadMemberList(f"`{key}` says something about voting that fba does not read: {value!r:.60}")
    return "; ".join(said)


def parse_member(value: Any) -> Member | None:
    """One member (as a 409 names it), or None when it is not one we can read."""
    try:
        return read_member(value)
    except BadMemberList:
        return None


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
    members, bad = [], []
    for value in raw:
        try:
            members.append(read_member(value))
        except BadMemberList as err:
            bad.append(str(err))
    if bad:
        raise BadMemberList(f"{len(bad)} of {len(raw)} members are not member objects: {'; '.join(bad[:3])}")
    service = _typed(body, "service", str, "a string")
    cluster = _typed(body, "cluster", str, "a string")
    leader = _typed(body, "leader", (dict, str), "a leader object or id")  # a bare id names no URL
    leader_url = _typed(body, "leader_url", str, "a string")
    if isinstance(leader, dict):
        leader_url = _typed(leader, "api_url", str, "a string") or leader_url
        leader = _typed(leader, "id", str, "a string")
    leader_id = leader if isinstance(leader, str) and leader else None
    if not leader_url and isinstance(leader, str):
        # A leader named by id only: its URL is the api_url its own entry gives, if any.
        named = next((m for m in members if m.id == leader), None)
        leader_url = named.api_url if named is not None else None
    flags = {key: _typed(body, key, bool, "true or false") for key in ("has_quorum", "change_in_flight", "committed")}
    return MemberView(
        members=tuple(members),
        leader_url=leader_url or None,
        has_quorum=flags["has_quorum"],
        change_in_flight=flags["change_in_flight"],
        service=service,
        leader_known="leader" in body or "leader_url" in body,
        committed=flags["committed"],
        leader_id=leader_id,
        # Read leniently: only compared between two answers (a stale leader's list, break 9), so
        # a term we cannot read is no term, not a bad list.
        term=body["term"] if type(body.get("term")) is int else None,
        cluster=cluster,
    )
