"""What a peer writes is judged, never trusted and never a traceback (break 6, bugs 1, 5-8).

- a hint naming this node's own API is never a leader (kind D), however it arrives;
- a member list's fields of the wrong type make it a bad answer, and a list that names us
  twice is a conflict whatever its order (kind E);
- numbers a peer writes as text (Retry-After, Raft ports) are read as ASCII digits, bounded;
- a URL a peer gives is never asked below the configuration's scheme.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from automation.discovery import LeaderFinder, foreign_list
from automation.http import Response
from automation.log import Logger
from automation.membership import BadMemberList, Member, Proof, judge, parse_view, read_view
from automation.policy import MAX_RETRY_AFTER_S, parse_retry_after
from automation.spec.markers import Service
from automation.spec.numbers import ascii_number, port_number
from automation.spec.urls import raised_scheme
from tests.unit.automation.worker_node import ADDR, ME
from tests.unit.automation.worker_node import config as worker_config

OWN = "http://10.0.0.4:2379"  # this node's chainfire API: raft_addr's host, chainfire's api_port


def config(**extra: Any) -> Any:
    return worker_config(**{"cluster_name": "c1", **extra})


def finder(**extra: Any) -> LeaderFinder:
    return LeaderFinder(config(**extra), Service.CHAINFIRE, Logger(stream=io.StringIO()))


def reply(body: Any) -> Response:
    return Response(200, {}, json.dumps(body).encode(), "http://10.0.0.1:2379/admin/members")


# Bug 1: our own API is never the leader --------------------------------------------------


@pytest.mark.parametrize(
    "hint",
    [OWN, f"{OWN}/admin/member/add", "https://10.0.0.4:2379", "http://node04:2379", "http://localhost:2379"],
)
def test_a_hint_naming_this_nodes_own_api_is_refused(hint: str) -> None:
    found = finder()
    assert found.learn(hint) is False and found.hint is None
    assert found.normalise(hint) is None  # nor does it compare equal to any candidate
    assert found.next() == "http://10.0.0.1:2379"


def test_another_port_on_our_host_is_a_candidate_but_our_api_is_not() -> None:
    found = finder()
    assert found.learn(OWN) is False  # refused: only the leader's list proves a join
    assert found.learn("http://10.0.0.4:2399") is True and found.next() == "http://10.0.0.4:2399"


# Bug 5: fields of the wrong type ----------------------------------------------------------

US = {"id": ME, "raft_addr": ADDR}
LEADER = {"id": "node01", "raft_addr": "10.0.0.1:2380"}


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ({"members": [LEADER, {**US, "is_learner": "true"}]}, "`is_learner` is not true or false"),
        ({"members": [LEADER, {**US, "is_learner": 0}]}, "`is_learner` is not true or false"),
        ({"members": [LEADER, {**US, "status": 1}]}, "`status` is not a string"),
        ({"members": [LEADER, {**US, "api_url": ["x"]}]}, "`api_url` is not a string"),
        ({"members": [LEADER, US], "has_quorum": "false"}, "`has_quorum` is not true or false"),
        ({"members": [LEADER, US], "change_in_flight": "true"}, "`change_in_flight` is not true or false"),
        ({"members": [LEADER, US], "committed": "false"}, "`committed` is not true or false"),
        ({"members": [LEADER, US], "committed": 1}, "`committed` is not true or false"),
        ({"members": [LEADER, US], "leader": 5}, "`leader` is not a leader object"),
        ({"members": [LEADER, US], "leader": {"api_url": 5}}, "`api_url` is not a string"),
        ({"members": [LEADER, US], "leader_url": True}, "`leader_url` is not a string"),
    ],
)
def test_a_field_of_the_wrong_type_makes_a_bad_answer_not_a_proof(body: dict[str, Any], said: str) -> None:
    with pytest.raises(BadMemberList, match=said.replace("`", ".")):
        read_view(reply(body))
    assert parse_view(reply(body)) is None


def test_a_null_flag_is_absent_but_a_string_is_not_false() -> None:
    body = {"members": [LEADER, US], "has_quorum": True, "change_in_flight": False, "committed": None,
            "leader": "node01"}  # fmt: skip
    view = read_view(reply(body))
    assert view is not None and view.committed is None and view.leader_url is None
    assert judge(view, ME, ADDR).verdict is Proof.PROVEN
    with pytest.raises(BadMemberList, match="committed"):
        read_view(reply({**body, "committed": "false"}))


# Bug 6: duplicates are judged whatever their order ----------------------------------------


@pytest.mark.parametrize(
    ("entries", "said"),
    [
        ([US, {"id": ME, "raft_addr": "10.0.0.9:2380"}], "listed 2 times"),
        ([US, {"id": "node09", "raft_addr": ADDR}], "already used by member node09"),
        ([US, {**US, "is_learner": True}], "listed 2 times"),
        ([US, US], "listed 2 times"),
        ([{"id": "node09", "raft_addr": ADDR}, {"id": "node08", "raft_addr": ADDR}], "node08, node09"),
    ],
    ids=["our-id-two-addresses", "our-address-two-ids", "voter-and-learner", "twice-the-same", "two-others"],
)
@pytest.mark.parametrize("order", [1, -1], ids=["as-listed", "reversed"])
def test_a_list_naming_us_twice_is_a_conflict_in_any_order(entries: list[Any], said: str, order: int) -> None:
    view = read_view(reply({"members": [LEADER, *entries[::order]], "has_quorum": True, "change_in_flight": False}))
    assert view is not None
    judgement = judge(view, ME, ADDR)
    assert judgement.verdict is Proof.CONFLICT and said in judgement.detail, judgement


# Bug 7: numbers written as text -----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("²", None),  # isdigit() says yes, int() says no
        ("١٢", None),  # Arabic-Indic digits: int() reads them, RFC 9110 does not
        ("-1", None),
        ("1.5", None),
        ("007", 7.0),
        ("9" * 400, float(MAX_RETRY_AFTER_S)),  # float() overflowed
        ("9" * 5000, float(MAX_RETRY_AFTER_S)),  # int() refused: Python's digit limit
        ("Mon, 01 Jan 99999 00:00:00 GMT", None),
    ],
)
def test_retry_after_is_ascii_digits_and_bounded(text: str, seconds: float | None) -> None:
    assert parse_retry_after(text, now_wall=0.0) == seconds


@pytest.mark.parametrize(
    ("text", "port"),
    [("2380", 2380), ("²", None), ("١٢", None), ("0", None), ("65536", None), ("9" * 5000, None), ("", None)],
)
def test_a_port_is_ascii_digits_in_range(text: str, port: int | None) -> None:
    assert port_number(text) == port
    assert Member("x", f"10.0.0.1:{text}").raft_port == port


def test_ascii_number_never_converts_more_digits_than_its_limit() -> None:
    assert ascii_number("1" * 5000, limit=100) == 100
    assert ascii_number("0" * 5000 + "42", limit=100) == 42


def test_a_member_with_an_odd_raft_port_does_not_break_the_service_check() -> None:
    view = read_view(reply({"members": [{"id": "node01", "raft_addr": "10.0.0.1:²"}]}))
    assert view is not None
    assert foreign_list(config(), Service.FLAREDB, view) is None  # nothing to tell by, no traceback


@pytest.mark.parametrize("raft_addr", ["10.0.0.4:²", "10.0.0.4:١٢"])
def test_a_config_port_in_other_digits_is_a_config_error(raft_addr: str) -> None:
    from automation.errors import ConfigError

    with pytest.raises(ConfigError, match="expected IPv4:port"):
        config(raft_addr=raft_addr)


# Bug 8: one scheme-raising rule ------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "floor", "asked"),
    [
        ("http://10.0.0.2:2379", "https", "https://10.0.0.2:2379"),
        ("http://10.0.0.2:2379/health", "https", "https://10.0.0.2:2379/health"),
        ("https://10.0.0.2:2379", "https", "https://10.0.0.2:2379"),
        ("http://10.0.0.2:2379", "http", "http://10.0.0.2:2379"),
        ("https://10.0.0.2:2379", "http", "https://10.0.0.2:2379"),
        ("http://[::1", "https", "http://[::1"),  # no URL: left for url_problem to name
    ],
)
def test_a_peer_url_is_never_asked_below_the_configurations_scheme(url: str, floor: str, asked: str) -> None:
    assert raised_scheme(url, floor) == asked


@pytest.mark.parametrize(
    ("update", "said", "not_said"),
    [
        # a chainfire leader on flaredb's port (past validation, e.g. an old config in memory)
        ({"leader_url": "http://10.0.0.1:2479"}, "http://10.0.0.1:2479 is on flaredb's API port", "own API"),
        ({"leader_url": OWN, "bootstrap": True}, f"{OWN} is this node's own API for chainfire", "API port"),
    ],
)
def test_no_candidate_left_says_why_each_was_dropped(update: dict[str, Any], said: str, not_said: str) -> None:
    """break 9 (F19): every dropped candidate was reported as "this node's own API"."""
    from automation.errors import ConfigError

    found = LeaderFinder(config().model_copy(update=update), Service.CHAINFIRE, Logger(stream=io.StringIO()))
    with pytest.raises(ConfigError) as caught:
        found.next()
    assert said in caught.value.message and not_said not in caught.value.message, caught.value.message
