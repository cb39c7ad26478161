"""Contract bodies and membership rules, no sockets."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from standins import contract as c
from standins.membership import MemberRecord, conflict, derive_api_url, find, sorted_bodies


def test_member_add_request_accepts_contract_shape() -> None:
    body = c.MemberAddRequest.model_validate({"id": "node04", "raft_addr": "10.0.1.13:2380"})
    assert body.api_url is None


@pytest.mark.parametrize(
    "bad",
    [
        {"id": "node04"},
        {"id": "node04", "raft_addr": "10.0.1.13"},
        {"id": "node04", "raft_addr": "10.0.1.13:99999"},
        {"id": "a/b", "raft_addr": "h:1"},
        {"id": "", "raft_addr": "h:1"},
        {"id": "n", "raft_addr": "h:1", "extra": 1},
    ],
)
def test_member_add_request_rejects_malformed(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        c.MemberAddRequest.model_validate(bad)


def test_split_host_port() -> None:
    assert c.split_host_port("node01:2380") == ("node01", 2380)
    with pytest.raises(ValueError, match="expected host:port"):
        c.split_host_port("[::1]:2380")


def test_password_is_not_in_repr() -> None:
    user = c.UserCreate(name="admin", role=c.UserRole.ADMIN, password="s3cr3t-pass")
    assert "s3cr3t-pass" not in repr(user)


def test_health_body_dump_matches_contract() -> None:
    body = c.Health(
        service=c.Service.CHAINFIRE,
        node_id="n1",
        role=c.Role.JOINING,
        leader=None,
        term=0,
        members=[],
        has_quorum=False,
        change_in_flight=False,
    )
    assert c.dump(body) == {
        "status": "ok",
        "service": "chainfire",
        "node_id": "n1",
        "role": "joining",
        "leader": None,
        "term": 0,
        "members": [],
        "has_quorum": False,
        "change_in_flight": False,
    }


A = MemberRecord("node01", "10.0.0.1:2380", "http://10.0.0.1:2379")
B = MemberRecord("node02", "10.0.0.2:2380", "http://10.0.0.2:2379")


def test_conflict_by_id_wins_over_address() -> None:
    assert conflict([A, B], "node01", "10.0.0.2:2380") == A
    assert conflict([A, B], "node09", "10.0.0.2:2380") == B
    assert conflict([A, B], "node09", "10.0.0.9:2380") is None


@given(
    st.lists(st.tuples(st.sampled_from("abcd"), st.integers(1, 4)), max_size=6),
    st.sampled_from("abcde"),
    st.integers(1, 5),
)
def test_conflict_is_none_exactly_when_id_and_address_are_new(
    pairs: list[tuple[str, int]], ident: str, port: int
) -> None:
    members = [MemberRecord(i, f"h:{p}", "") for i, p in pairs]
    found = conflict(members, ident, f"h:{port}")
    clash = any(m.id == ident or m.raft_addr == f"h:{port}" for m in members)
    assert (found is not None) == clash


def test_derive_find_and_sort() -> None:
    assert derive_api_url("10.0.1.13:2380", "https", 2379) == "https://10.0.1.13:2379"
    assert find([A, B], "node02") == B and find([A], "x") is None
    assert [m.id for m in sorted_bodies([B, A])] == ["node01", "node02"]


def test_a_member_list_names_its_cluster_only_when_given_one() -> None:
    """Break 12, K11: `cluster` is optional in the contract: absent when not given, never null."""
    body = c.Members(service=c.Service.CHAINFIRE, members=[], leader=None, term=0, has_quorum=False,
                     change_in_flight=False)  # fmt: skip
    assert "cluster" not in c.dump(body)
    named = c.Members(service=c.Service.CHAINFIRE, members=[], leader=None, term=0, has_quorum=False,
                      change_in_flight=False, cluster="c1")  # fmt: skip
    assert c.dump(named)["cluster"] == "c1"
