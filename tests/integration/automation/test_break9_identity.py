"""Break 9: a peer's identity judged by how the connection reaches it, not by how a URL is spelt
(docs/failure-kinds.md, "Found by a fourth tester"). Fake peers on loopback; each test failed
before its fix."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from automation.spec.exitcodes import ExitCode

from .conftest import NODE_ID, Fba, Node
from .expect import JOINED, markers_in

JOIN = ("join", "--service", "chainfire")
LEAVE = ("leave", "--service", "chainfire")


def respelt(url: str, host: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{host}:{parts.port}"


# The leader is asked as http://127.0.0.1:P and names itself under another spelling of that host
# (`inet_aton` forms, as `getaddrinfo` reads them; a name's case).
SPELLINGS = ["127.1", "127.000.000.001", "2130706433"]


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_a_leader_naming_itself_in_another_spelling_takes_the_add(fba: Fba, node: Node, spelling: str) -> None:
    """Finding 4: taken for a hint loop (`vm` -> `VM`), the join sent no add and used up its
    attempts against a healthy leader."""
    leader = node.leader()
    node.clusters["chainfire"].set_leader(respelt(leader.url, spelling))
    fba.write_config(node.config(join={"deadline_s": 8}))

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.OK, result.describe()
    assert len(leader.requests_to("POST", "/admin/member/add")) == 1
    assert not result.with_message("Leader hints go round in a loop", "WARN"), result.describe()


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_a_leave_confirmed_by_a_leader_naming_itself_in_another_spelling(fba: Fba, node: Node, spelling: str) -> None:
    """Finding 4, leave: the DELETE was taken, then every read of the leader's list was refused
    as a follower's ("names leader ..., which cannot be asked"): exit 1 and the marker kept for
    a node that was no longer a member."""
    leader = node.leader()
    fba.write_config(node.config(join={"deadline_s": 8}))
    assert fba.run(*JOIN).rc == ExitCode.OK
    assert markers_in(fba.state_dir) == [JOINED]
    node.clusters["chainfire"].set_leader(respelt(leader.url, spelling))

    result = fba.run(*LEAVE)

    assert result.rc == ExitCode.OK, result.describe()
    assert NODE_ID not in node.clusters["chainfire"].member_ids()
    assert markers_in(fba.state_dir) == []
