"""What a member list proves (issue 12, kind E) and whose list it is (kind D)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from automation.configfile import parse
from automation.discovery import foreign_list
from automation.http import Response
from automation.membership import BadMemberList, MemberView, Proof, judge, judge_removed, parse_view, read_view
from automation.spec.markers import Service

ME, ADDR = "node04", "10.0.0.4:2380"


def view(**body: Any) -> MemberView:
    data = {
        "members": [{"id": "node01", "raft_addr": "10.0.0.1:2380"}, {"id": ME, "raft_addr": ADDR}],
        "leader": {"id": "node01", "api_url": "http://10.0.0.1:2379"},
        "has_quorum": True,
        "change_in_flight": False,
    }
    data.update(body)
    parsed = parse_view(Response(200, {}, json.dumps(data).encode(), "http://x/admin/members"))
    assert parsed is not None
    return parsed


@pytest.mark.parametrize(
    ("body", "verdict", "said"),
    [
        ({}, Proof.PROVEN, "listed as"),
        ({"has_quorum": False}, Proof.PENDING, "no quorum"),
        ({"change_in_flight": True}, Proof.PENDING, "change in flight"),
        ({"committed": False}, Proof.PENDING, "not committed"),
        ({"has_quorum": False, "change_in_flight": True, "committed": True}, Proof.PROVEN, ""),
        ({"leader": None, "has_quorum": False}, Proof.PENDING, "no leader"),
        ({"members": [{"id": ME, "raft_addr": ADDR, "is_learner": True}]}, Proof.PENDING, "learner"),
        ({"members": [{"id": ME, "raft_addr": ADDR, "status": "learner"}]}, Proof.PENDING, "learner"),
        ({"members": [{"id": "node01", "raft_addr": "10.0.0.1:2380"}]}, Proof.ABSENT, "not in"),
        ({"members": [{"id": ME, "raft_addr": "10.0.0.9:2380"}]}, Proof.CONFLICT, "10.0.0.9:2380"),
        ({"members": [{"id": "node09", "raft_addr": ADDR}]}, Proof.CONFLICT, "node09"),
    ],
)
def test_judge(body: dict[str, Any], verdict: Proof, said: str) -> None:
    judgement = judge(view(**body), ME, ADDR)
    assert judgement.verdict is verdict and said in judgement.detail


def test_removal_needs_a_settled_list_without_the_member() -> None:
    assert judge_removed(view(), ME).verdict is Proof.PENDING
    gone = [{"id": "node01", "raft_addr": "10.0.0.1:2380"}]
    assert judge_removed(view(members=gone, change_in_flight=True), ME).verdict is Proof.PENDING
    assert judge_removed(view(members=gone), ME).verdict is Proof.PROVEN


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ({"members": [None, 5, "x"]}, "3 of 3 members"),
        ({"members": [{"id": ME, "raft_addr": ADDR}, {"id": "node09"}]}, "1 of 2 members"),
        ({"members": [{"id": 4, "raft_addr": ADDR}]}, "not member objects"),
        ({"members": [], "service": 7}, "`service` is not a string"),
        ({"members": [], "service": ["chainfire"]}, "`service` is not a string"),
    ],
)
def test_a_list_that_breaks_the_contract_is_a_bad_answer_not_a_list_without_us(body: dict[str, Any], said: str) -> None:
    reply = Response(200, {}, json.dumps(body).encode(), "http://x/admin/members")
    with pytest.raises(BadMemberList, match=said.replace("`", ".")):
        read_view(reply)
    assert parse_view(reply) is None  # for the readers that only need "usable or not"


def test_a_body_without_members_is_no_list_at_all() -> None:
    assert read_view(Response(200, {}, b'{"status": "ok"}', "http://x/admin/members")) is None


def config() -> Any:
    data = {
        "node_id": ME,
        "node_role": "worker",
        "bootstrap": False,
        "cluster_name": "c1",
        "leader_url": "http://10.0.0.1:2379",
        "raft_addr": ADDR,
    }
    return parse(json.dumps(data).encode())


@pytest.mark.parametrize(
    ("service", "body", "wrong"),
    [
        (Service.FLAREDB, {"service": "chainfire"}, "a member list of chainfire, not flaredb"),
        (Service.CHAINFIRE, {"service": "chainfire"}, None),
        (Service.FLAREDB, {}, "a member list of chainfire, not flaredb"),  # members on :2380
        (Service.CHAINFIRE, {}, None),
        (Service.FLAREDB, {"members": [{"id": "node01", "raft_addr": "10.0.0.1:2480"}]}, None),
        (Service.CHAINFIRE, {"members": [{"id": "node01", "raft_addr": "10.0.0.1:2480"}]}, "of flaredb"),
        (Service.FLAREDB, {"members": []}, None),  # nothing to tell by
    ],
)
def test_a_list_is_checked_to_belong_to_the_service(service: Service, body: dict[str, Any], wrong: str | None) -> None:
    found = foreign_list(config(), service, view(**body))
    assert (found is None) if wrong is None else (found is not None and wrong in found), found


@pytest.mark.parametrize(
    ("listed", "verdict"),
    [
        (ADDR, Proof.PROVEN),
        (f"{ME}:2380", Proof.PROVEN),  # the design's initial_peers form: the id is the host
        (f"{ME}:2480", Proof.CONFLICT),  # our name, another port: flaredb's, not ours
        ("10.0.0.9:2380", Proof.CONFLICT),
        ("node05:2380", Proof.CONFLICT),
    ],
)
def test_our_raft_address_as_listed_by_a_cluster_seeded_from_peer_names(listed: str, verdict: Proof) -> None:
    members = [{"id": "node01", "raft_addr": "10.0.0.1:2380"}, {"id": ME, "raft_addr": listed}]
    assert judge(view(members=members), ME, ADDR).verdict is verdict


def test_another_member_under_our_name_and_port_is_a_conflict() -> None:
    members = [{"id": "node01", "raft_addr": f"{ME}:2380"}]
    judgement = judge(view(members=members), ME, ADDR)
    assert judgement.verdict is Proof.CONFLICT and "already used by member node01" in judgement.detail


def _entry(**fields: Any) -> dict[str, Any]:
    return {"members": [{"id": "node01", "raft_addr": "10.0.0.1:2380"}, {"id": ME, "raft_addr": ADDR, **fields}]}


@pytest.mark.parametrize(
    "fields",
    [
        {"status": "unstarted"},  # etcd: added, never started
        {"status": "Learner "},  # a known word in another case, with spaces
        {"status": " PENDING"},
        {"status": "promoting"},  # a word fba does not know: not proof of a voter
        {"status": ""},
        {"state": "joining"},
        {"role": "learner"},
        {"isLearner": True},  # etcd's JSON name (v3 gateway)
        {"IsLearner": True},
        {"is-learner": True},
        {"learner": True},
        {"voter": False},
        {"Voter": False},  # Consul's raft peer list
        {"is_learner": False, "isLearner": True},  # either saying "learner" is enough
    ],
)
def test_an_entry_that_is_not_a_started_voter_in_any_words_is_no_proof(fields: dict[str, Any]) -> None:
    """break 9 (F16): `unstarted`, `Learner ` and etcd's `isLearner` were read as a voter (exit 0
    + marker). The contract's Member has no status: a word fba does not know is no proof."""
    judgement = judge(view(**_entry(**fields)), ME, ADDR)
    assert judgement.verdict is Proof.PENDING, judgement
    assert "not a started voter" in judgement.detail or "learner" in judgement.detail


@pytest.mark.parametrize(
    "fields",
    [
        {},  # the contract's Member: no status at all is a voter
        {"status": "started"},  # etcd's word for a running member
        {"status": " Voter "},
        {"status": "FOLLOWER"},
        {"status": "leader"},
        {"status": None},
        {"is_learner": False, "isLearner": False},
        {"voter": True},
    ],
)
def test_a_started_voter_is_proof_in_the_words_fba_knows(fields: dict[str, Any]) -> None:
    assert judge(view(**_entry(**fields)), ME, ADDR).verdict is Proof.PROVEN


@pytest.mark.parametrize(
    ("fields", "said"),
    [
        ({"isLearner": 1}, "isLearner"),
        ({"Voter": "no"}, "Voter"),
        ({"state": 3}, "state"),
        ({"learner_status": "x"}, "learner_status"),  # a learner/voter key fba does not read
        ({"non_voter": True}, "non_voter"),
    ],
)
def test_a_voter_field_fba_cannot_read_is_a_bad_answer(fields: dict[str, Any], said: str) -> None:
    reply = Response(200, {}, json.dumps(_entry(**fields)).encode(), "http://x/admin/members")
    with pytest.raises(BadMemberList, match=said):
        read_view(reply)
