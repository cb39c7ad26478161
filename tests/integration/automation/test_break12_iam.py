"""A seventh tester (break 12) against `fba iam-setup`: K10, the admin create committed but
answered in a shape the H4 fix did not count as "may have taken effect" (an interim 103, a 201
over 1 MiB, a 2xx or 3xx the create does not expect), its retry's 409 read as another node's
and the password erased; K12, a renewal of the node token that depended on the one-time
bootstrap token; K3, the node token's expiry judged on this node's clock instead of the IAM's."""

from __future__ import annotations

import json
from typing import Any

import pytest

from automation.spec.exitcodes import ExitCode

from .conftest import Fba, FbaResult, Node
from .expect import IAM_INITIALIZED, assert_marker, assert_no_secret
from .fakes import Answer


def _creds(node: Node) -> dict[str, Any]:
    value = json.loads(node.credentials_path.read_text())
    assert isinstance(value, dict)
    return value


def _assert_quiet(node: Node, *results: FbaResult) -> None:
    with node.iam_state.lock:
        secrets = [node.iam_state.bootstrap_token, *(u["password"] for u in node.iam_state.users.values())]
        secrets += node.iam_state.issued
    for result in results:
        assert_no_secret(result.output, *secrets)


# K10 ------------------------------------------------------------------------------------------

# Answers to a create the IAM committed, none of them a clean, fully read "not created".
ODD = {
    # An IAM that returns the user with its audit trail (or the whole table): over 1 MiB.
    "201-over-1MiB": Answer(201, {"name": "admin", "role": "admin", "audit": ["x" * 1000] * 1100}),
    # An interim answer and nothing after it (K2's shape cut short): whatever the HTTP layer
    # makes of it, the request had reached the IAM.
    "103-alone": Answer(103, None, {"Link": "</a>; rel=preload"}),
    # POST-redirect-GET: "created, see the user here".
    "303-see-other": Answer(303, None, {"Location": "/users/admin"}),
    # Queued and applied after the answer.
    "202-accepted": Answer(202, {"name": "admin", "role": "admin"}),
}


@pytest.mark.parametrize("shape", sorted(ODD))
def test_a_409_after_a_committed_create_answered_oddly_keeps_the_password(fba: Fba, node: Node, shape: str) -> None:
    """K10: only timeouts, resets and 5xx counted as "may have taken effect"; after these the
    retry's 409 was "created by another node", the password erased, exit 0."""
    node.iam_state.replays = False
    node.iam_state.lost_creates.append(ODD[shape])
    node.write_token()
    fba.write_config(node.config())

    result = fba.run("iam-setup")

    assert result.rc == ExitCode.OK, result.describe()
    assert [r.status for r in node.iam.requests_to("POST", "/users")][-1] == 409
    creds = _creds(node)
    assert creds["admin_password"] == node.iam_state.users["admin"]["password"]
    assert creds["admin_status"] == "unconfirmed"
    assert "created by another node" not in result.output
    assert_marker(fba.marker(IAM_INITIALIZED))
    _assert_quiet(node, result)


def test_a_409_after_a_definite_refusal_is_still_another_nodes(fba: Fba, node: Node) -> None:
    """The other side of K10: a 429 (a fully read "not now") took nothing; the 409 that follows
    it is another node's admin, the staged password dropped as before."""
    node.iam_state.replays = False
    node.iam_state.add_user("admin", password="the-other-nodes-password")
    node.iam.script("POST", "/users", Answer(429, {"error": "slow down"}, {"Retry-After": "0"}))
    node.write_token()
    fba.write_config(node.config())

    result = fba.run("iam-setup")

    assert result.rc == ExitCode.OK, result.describe()
    assert [r.status for r in node.iam.requests_to("POST", "/users")] == [429, 409]
    creds = _creds(node)
    assert creds["admin_password"] is None
    assert creds["admin_status"] == "created-elsewhere"
    _assert_quiet(node, result)
