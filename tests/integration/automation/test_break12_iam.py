"""A seventh tester (break 12) against `fba iam-setup`: K10, the admin create committed but
answered in a shape the H4 fix did not count as "may have taken effect" (an interim 103, a 201
over 1 MiB, a 2xx or 3xx the create does not expect), its retry's 409 read as another node's
and the password erased; K12, a renewal of the node token that depended on the one-time
bootstrap token; K3, the node token's expiry judged on this node's clock instead of the IAM's."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from automation.spec.exitcodes import ExitCode

from .conftest import Fba, Node, cause
from .expect import IAM_INITIALIZED, assert_iam_quiet, assert_marker, credentials
from .fakes import Answer

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
    creds = credentials(node)
    assert creds["admin_password"] == node.iam_state.users["admin"]["password"]
    assert creds["admin_status"] == "unconfirmed"
    assert "created by another node" not in result.output
    assert_marker(fba.marker(IAM_INITIALIZED))
    assert_iam_quiet(node, result)


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
    creds = credentials(node)
    assert creds["admin_password"] is None
    assert creds["admin_status"] == "created-elsewhere"
    assert_iam_quiet(node, result)


# K12 ------------------------------------------------------------------------------------------


def _set_up_then_due(fba: Fba, node: Node, *, left_s: float) -> dict[str, Any]:
    """Day 0: the node is set up. Then its node token is `left_s` from its expiry (due for
    renewal; negative: expired) and the bootstrap token has expired."""
    node.write_token()
    fba.write_config(node.config())
    first = fba.run("iam-setup")
    assert first.rc == ExitCode.OK, first.describe()
    creds = credentials(node)
    creds["node_token_expires_at"] = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=left_s)).isoformat()
    node.credentials_path.write_text(json.dumps(creds))
    node.iam_state.bootstrap_expired = True
    node.iam.clear()
    return creds


def test_a_due_node_token_is_renewed_with_itself_after_the_bootstrap_token_expired(fba: Fba, node: Node) -> None:
    """K12: the renewal re-ran the whole set-up with the bootstrap token, got 401 and failed
    every boot past day 1 on a node that was fully set up."""
    before = _set_up_then_due(fba, node, left_s=600)

    result = fba.run("iam-setup")

    assert result.rc == ExitCode.OK, result.describe()
    renewed = credentials(node)
    assert renewed["node_token"] != before["node_token"]
    assert renewed["admin_password"] == before["admin_password"]  # nothing else touched
    assert renewed["admin_status"] == "created"
    sent = node.iam.requests_to("POST", "/tokens")
    assert [r.headers["authorization"] for r in sent] == [f"Bearer {before['node_token']}"]
    assert not result.levels("ERROR")
    assert "bootstrap token" in " ".join(line["message"] for line in result.levels("WARN"))
    assert_marker(fba.marker(IAM_INITIALIZED))
    assert_iam_quiet(node, result)


def test_a_renewal_without_the_bootstrap_token_file_uses_the_node_token(fba: Fba, node: Node) -> None:
    """A bootstrap token removed after day 0 (as one-time credentials are) is no failed boot."""
    before = _set_up_then_due(fba, node, left_s=600)
    node.token_path.unlink()

    result = fba.run("iam-setup")

    assert result.rc == ExitCode.OK, result.describe()
    assert credentials(node)["node_token"] != before["node_token"]
    assert_iam_quiet(node, result)


def test_a_renewal_with_nothing_the_iam_accepts_fails_saying_what_to_do(fba: Fba, node: Node) -> None:
    """The node token expired and the bootstrap token too: one clear ERROR naming both, exit 1,
    nothing stored changed."""
    before = _set_up_then_due(fba, node, left_s=-60)
    with node.iam_state.lock:
        node.iam_state.issued.clear()  # the IAM holds it expired too

    result = fba.run("iam-setup")

    assert result.rc == ExitCode.FAILED, result.describe()
    assert cause(result.last) == "rejected"
    message = result.last["message"]
    assert "node token" in message and "bootstrap token" in message and str(node.token_path) in message
    assert len(result.levels("ERROR")) == 1
    assert credentials(node)["node_token"] == before["node_token"]
    assert credentials(node)["admin_password"] == before["admin_password"]
    assert_iam_quiet(node, result)


def test_a_renewal_with_a_valid_bootstrap_token_and_a_refused_node_token_uses_the_bootstrap(
    fba: Fba, node: Node
) -> None:
    """What still works is used: a node token the IAM no longer knows (revoked, an IAM rebuilt)
    falls back to the bootstrap token."""
    before = _set_up_then_due(fba, node, left_s=600)
    node.iam_state.bootstrap_expired = False
    with node.iam_state.lock:
        node.iam_state.issued.clear()  # the IAM forgot every token it issued

    result = fba.run("iam-setup")

    assert result.rc == ExitCode.OK, result.describe()
    assert credentials(node)["node_token"] != before["node_token"]
    assert_iam_quiet(node, result)


# K3 -------------------------------------------------------------------------------------------

DAY_AND_AN_HOUR_S = 25 * 3600.0


def test_a_node_token_is_judged_on_the_iams_clock_not_ours(fba: Fba, node: Node) -> None:
    """K3: our clock a day ahead of the IAM's (first boot before NTP): a 24 h token "expired an
    hour ago" on our clock, `bad response`, thrown away on every start. Its life is the IAM's:
    `expires_at` minus the same answer's `Date`."""
    node.iam_state.clock_offset_s = -DAY_AND_AN_HOUR_S
    node.write_token()
    fba.write_config(node.config())

    result = fba.run("iam-setup")

    assert result.rc == ExitCode.OK, result.describe()
    creds = credentials(node)
    assert creds["node_token"] == node.iam_state.issued[-1]
    # Stored as the IAM gave it: the IAM enforces its own time, and our clock is the one NTP
    # is about to step (stored on ours, the token would outlive its real expiry by a day).
    stored = dt.datetime.fromisoformat(creds["node_token_expires_at"])
    assert stored < dt.datetime.now(dt.UTC)
    warning = " ".join(line["message"] for line in result.levels("WARN"))
    assert "clock" in warning and "IAM" in warning
    assert_marker(fba.marker(IAM_INITIALIZED))
    assert_iam_quiet(node, result)


def test_a_token_dead_on_our_clock_is_still_offered_to_the_iam_on_a_renewal(fba: Fba, node: Node) -> None:
    """K3 with K12: our clock ahead, the bootstrap token expired: the stored node token looks
    dead on our clock but is alive on the IAM's, which decides."""
    node.iam_state.clock_offset_s = -DAY_AND_AN_HOUR_S
    node.write_token()
    fba.write_config(node.config())
    assert fba.run("iam-setup").rc == ExitCode.OK
    before = credentials(node)
    node.iam_state.bootstrap_expired = True

    result = fba.run("iam-setup")

    assert result.rc == ExitCode.OK, result.describe()
    assert credentials(node)["node_token"] != before["node_token"]
    assert_iam_quiet(node, result)
