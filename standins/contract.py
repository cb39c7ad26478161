"""HTTP bodies of the stand-ins, as pydantic models (the server's side of the contract).

These are *our* bodies, not the automation's client models: the two sides meet only over
HTTP, and `standins/openapi.yaml` is the written contract both follow. Requests are
validated strictly (unknown keys rejected, so a typo reaches the caller as a 400);
responses are built from these models so every answer has the documented shape.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

_HOST_PORT = re.compile(r"^(?P<host>[A-Za-z0-9.\-]+):(?P<port>[0-9]{1,5})$")


class Service(StrEnum):
    """The three stand-in services."""

    CHAINFIRE = "chainfire"
    FLAREDB = "flaredb"
    IAM = "iam"


class Role(StrEnum):
    """A node's role as `/health` reports it."""

    LEADER = "leader"
    FOLLOWER = "follower"
    JOINING = "joining"


class UserRole(StrEnum):
    """iam user roles."""

    ADMIN = "admin"
    USER = "user"


def split_host_port(value: str) -> tuple[str, int]:
    """Split `host:port` (IPv4 or hostname).

    Raises:
        ValueError: when the text is not `host:port` with a port in 1..65535.
    """
    match = _HOST_PORT.match(value)
    if match is None:
        raise ValueError(f"expected host:port, got {value!r}")
    port = int(match.group("port"))
    if not 0 < port < 65536:
        raise ValueError(f"port out of range in {value!r}")
    return match.group("host"), port


class _Body(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Member(_Body):
    """One Raft member as every endpoint lists it."""

    id: str
    raft_addr: str
    api_url: str


class LeaderRef(_Body):
    id: str
    api_url: str


class Health(_Body):
    status: str = "ok"
    service: Service
    node_id: str
    role: Role
    leader: LeaderRef | None
    term: int
    members: list[Member]
    has_quorum: bool
    change_in_flight: bool
    cluster: str | None = None


class Starting(_Body):
    """503 from `/health`: "starting" during --health-delay, "recovering" while a restarted
    node has not yet re-applied the membership changes its journal held."""

    status: Literal["starting", "recovering"] = "starting"


class Members(_Body):
    """`GET /admin/members`. `service` says whose list it is, so a client that asked the wrong
    port (flaredb's list from chainfire) can tell."""

    service: Service
    members: list[Member]
    leader: LeaderRef | None
    term: int
    has_quorum: bool
    change_in_flight: bool
    # The cluster's name (fba's `cluster_name`), when the daemon was given one: a client that
    # reached another cluster's node (a reused address, a stale peer list) can tell.
    cluster: str | None = None


class MemberAddRequest(_Body):
    """`POST /admin/member/add`; `api_url` defaults to raft_addr's host + the API port."""

    id: str = Field(min_length=1, max_length=128)
    raft_addr: str
    api_url: str | None = None

    @field_validator("id")
    @classmethod
    def _id_printable(cls, value: str) -> str:
        if not value.isprintable() or "/" in value or value.strip() != value:
            raise ValueError("id must be printable, without '/' or surrounding spaces")
        return value

    @field_validator("raft_addr")
    @classmethod
    def _raft_addr(cls, value: str) -> str:
        split_host_port(value)
        return value


class MemberAdded(_Body):
    added: Member
    members: list[Member]


class MemberRemoved(_Body):
    removed: Member
    members: list[Member]


class RaftStart(_Body):
    """Internal: the leader tells a join-mode node the member list it was added to."""

    members: list[Member]


class Error(_Body):
    error: str


class ErrorWithMember(_Body):
    error: str
    member: Member


class NotLeaderBody(_Body):
    error: str = "not the leader"
    leader_url: str


class KvPut(_Body):
    value: Any


class KvItem(_Body):
    key: str
    value: Any


class KvList(_Body):
    items: list[KvItem]


class IamHealth(_Body):
    status: str
    service: Service = Service.IAM
    node_id: str
    store: str


class UserCreate(_Body):
    name: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._@-]+$")
    role: UserRole
    password: str = Field(min_length=1, max_length=4096, repr=False)


class UserView(_Body):
    name: str
    role: UserRole
    created_at: str


class UserList(_Body):
    users: list[UserView]


class TokenRequest(_Body):
    subject: str = Field(min_length=1, max_length=256)
    ttl_s: int = Field(default=86400, gt=0, le=366 * 86400)


class TokenIssued(_Body):
    token: str
    subject: str
    expires_at: str


def dump(body: BaseModel) -> dict[str, Any]:
    """A response body as JSON-ready data. `cluster` is optional in the contract: absent when
    the daemon was given no cluster name (other nulls, such as `leader`, are said)."""
    out = body.model_dump(mode="json")
    if "cluster" in out and out["cluster"] is None:
        del out["cluster"]
    return out
