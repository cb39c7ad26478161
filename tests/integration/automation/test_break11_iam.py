"""A sixth tester (break 11) against `fba iam-setup`: H4, the admin create whose answer was lost
(a timeout, a proxy's 502 after the commit, a crash at `iam.after-admin-create`) retried into a
409 that fba read as "created by another node", erasing the password it had sent; H5, node
token expiries in shapes other than ISO-8601 read as "no expiry"."""

from __future__ import annotations

import datetime as dt
import json
import signal

import pytest

from automation.spec.exitcodes import ExitCode

from .conftest import Fba, Node, cause
from .expect import IAM_INITIALIZED, assert_iam_quiet, assert_marker, credentials, markers_in
from .fakes import Answer

LOST = {
    # The 201 comes after the request timeout (1 s in the tests' config): a slow commit.
    "late-201": Answer(201, {"name": "admin", "role": "admin"}, delay_s=3.0),
    # A proxy in front of the IAM answers 502 after the IAM committed the create.
    "502-after-commit": Answer(502, {"error": "bad gateway"}),
}


@pytest.mark.parametrize("lost", sorted(LOST))
def test_a_409_after_a_lost_create_keeps_the_password_it_sent(fba: Fba, node: Node, lost: str) -> None:
    """H4: the retry's 409 was "created by another node": password null, exit 0, the IAM's only
    admin locked out. An IAM without the replay rule cannot tell fba whose admin it is."""
    node.iam_state.replays = False
    node.iam_state.lost_creates.append(LOST[lost])
    node.write_token()
    fba.write_config(node.config())

    result = fba.run("iam-setup")

    assert result.rc == ExitCode.OK, result.describe()
    assert [r.status for r in node.iam.requests_to("POST", "/users")] == [LOST[lost].status, 409]
    creds = credentials(node)
    assert creds["admin_password"] == node.iam_state.users["admin"]["password"]  # kept: it may be the admin's
    assert creds["admin_status"] == "unconfirmed"
    assert "created by another node" not in result.output
    warning = " ".join(line["message"] for line in result.levels("WARN"))
    assert "may be this node's" in warning and "unconfirmed" in warning
    assert_marker(fba.marker(IAM_INITIALIZED))
    assert_iam_quiet(node, result)

    # Nothing later drops it: the IAM lists the admin, the file says unconfirmed.
    fba.marker(IAM_INITIALIZED).unlink()
    node.iam.clear()
    again = fba.run("iam-setup")
    assert again.rc == ExitCode.OK, again.describe()
    assert node.iam.requests_to("POST", "/users") == []
    assert credentials(node)["admin_password"] == creds["admin_password"]
    assert credentials(node)["admin_status"] == "unconfirmed"


def test_a_lost_create_answer_replayed_to_a_contract_iam_is_ours(fba: Fba, node: Node) -> None:
    """The contract's replay rule (standins/openapi.yaml): the same create again answers 200."""
    node.iam_state.lost_creates.append(LOST["late-201"])
    node.write_token()
    fba.write_config(node.config())

    result = fba.run("iam-setup")

    assert result.rc == ExitCode.OK, result.describe()
    assert [r.status for r in node.iam.requests_to("POST", "/users")] == [201, 200]
    creds = credentials(node)
    assert creds["admin_status"] == "created"
    assert creds["admin_password"] == node.iam_state.users["admin"]["password"]
    assert_iam_quiet(node, result)


def test_a_crash_after_the_create_then_409_keeps_the_password(fba: Fba, node: Node) -> None:
    """H4, the crash shape: the restarted run re-sent the staged password, got 409 from an IAM
    without the replay rule, and wrote null over the admin's only password."""
    node.iam_state.replays = False
    node.write_token()
    fba.write_config(node.config())

    crashed = fba.run("iam-setup", env={"FBA_FAILPOINTS": "iam.after-admin-create=crash"})
    assert crashed.rc == -signal.SIGKILL, crashed.describe()
    staged = credentials(node)["admin_password"]
    assert staged == node.iam_state.users["admin"]["password"]

    rerun = fba.run("iam-setup")

    assert rerun.rc == ExitCode.OK, rerun.describe()
    creds = credentials(node)
    assert creds["admin_password"] == staged
    assert creds["admin_status"] == "unconfirmed"
    assert "created by another node" not in rerun.output
    assert_iam_quiet(node, crashed, rerun)


def test_a_crash_before_the_create_sent_nothing_so_a_409_is_another_nodes(fba: Fba, node: Node) -> None:
    """The staged password was never sent (the file says so): a 409 is another node's admin."""
    node.iam_state.replays = False
    node.write_token()
    fba.write_config(node.config())
    crashed = fba.run("iam-setup", env={"FBA_FAILPOINTS": "iam.before-create=crash"})
    assert crashed.rc == -signal.SIGKILL, crashed.describe()
    assert credentials(node)["admin_password"]
    node.iam_state.add_user("admin", password="the-other-nodes-password")

    rerun = fba.run("iam-setup")

    assert rerun.rc == ExitCode.OK, rerun.describe()
    creds = credentials(node)
    assert creds["admin_password"] is None
    assert creds["admin_status"] == "created-elsewhere"
    assert_iam_quiet(node, crashed, rerun)


def test_a_racer_that_lost_and_crashed_knows_the_admin_is_another_nodes(fba: Fba, node: Node) -> None:
    """The 409 came to the only create sent: recorded before the crash, the next run does not
    take the other node's admin for maybe its own."""
    node.iam_state.replays = False
    node.iam_state.add_user("admin", password="the-other-nodes-password")
    node.write_token()
    fba.write_config(node.config())
    crashed = fba.run("iam-setup", env={"FBA_FAILPOINTS": "iam.after-admin-create=crash"})
    assert crashed.rc == -signal.SIGKILL, crashed.describe()

    rerun = fba.run("iam-setup")

    assert rerun.rc == ExitCode.OK, rerun.describe()
    creds = credentials(node)
    assert creds["admin_password"] is None
    assert creds["admin_status"] == "created-elsewhere"
    assert_iam_quiet(node, crashed, rerun)


def test_a_staged_password_from_an_fba_that_did_not_record_sending_is_kept(fba: Fba, node: Node) -> None:
    """A file staged by an earlier fba (no record of whether the create was sent) may hold the
    admin's password: a 409 does not drop it."""
    node.iam_state.replays = False
    node.iam_state.add_user("admin", password="staged-pw")
    node.credentials_path.parent.mkdir(parents=True, exist_ok=True)
    node.credentials_path.write_text(
        json.dumps({"admin_user": "admin", "admin_password": "staged-pw", "admin_status": "pending"})
    )
    node.credentials_path.chmod(0o600)
    node.write_token()
    fba.write_config(node.config())

    result = fba.run("iam-setup")

    assert result.rc == ExitCode.OK, result.describe()
    creds = credentials(node)
    assert creds["admin_password"] == "staged-pw"
    assert creds["admin_status"] == "unconfirmed"
    assert_iam_quiet(node, result)


# H5 -------------------------------------------------------------------------------------------

PAST = {
    "epoch seconds": 1700000000,
    "epoch seconds as text": "1700000000",
    "Go time.String()": "2023-11-14 22:13:20 +0000 UTC",
    "Go time.String() with monotonic": "2023-11-14 22:13:20.123456789 +0000 UTC m=+0.000012345",
    "RFC 1123": "Tue, 14 Nov 2023 22:13:20 GMT",
    "ISO-8601": "2023-11-14T22:13:20Z",
}


@pytest.mark.parametrize("shape", sorted(PAST))
def test_an_expired_node_token_is_refused_in_every_common_shape(fba: Fba, node: Node, shape: str) -> None:
    """H5: only the ISO form was read; the others were "no expiry": exit 0 with a dead token."""
    node.iam_state.token_expires_at = PAST[shape]
    node.write_token()
    fba.write_config(node.config())

    result = fba.run("iam-setup")

    assert result.rc == ExitCode.FAILED, result.describe()
    assert cause(result.last) == "bad response"
    assert "already expired" in result.last["message"]
    assert markers_in(fba.state_dir) == []
    assert_iam_quiet(node, result)


@pytest.mark.parametrize("value", ["next tuesday", "", "2023-13-45", True, [2023]])
def test_an_unreadable_node_token_expiry_is_a_bad_response_naming_it(fba: Fba, node: Node, value: object) -> None:
    node.iam_state.token_expires_at = value
    node.write_token()
    fba.write_config(node.config())

    result = fba.run("iam-setup")

    assert result.rc == ExitCode.FAILED, result.describe()
    assert cause(result.last) == "bad response"
    assert "expires_at" in result.last["message"] and repr(value) in result.last["message"]
    assert markers_in(fba.state_dir) == []
    assert_iam_quiet(node, result)


def test_a_future_expiry_in_another_shape_is_stored_as_iso_and_renewed_when_due(fba: Fba, node: Node) -> None:
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=60)
    node.iam_state.token_expires_at = int(soon.timestamp())
    node.write_token()
    fba.write_config(node.config())

    first = fba.run("iam-setup")

    assert first.rc == ExitCode.OK, first.describe()
    stored = credentials(node)["node_token_expires_at"]
    assert dt.datetime.fromisoformat(stored) == soon.replace(microsecond=0)
    node.iam_state.token_expires_at = None

    again = fba.run("iam-setup")  # 60 s left of a 1-day TTL: renewed, not "nothing to do"

    assert again.rc == ExitCode.OK, again.describe()
    assert dt.datetime.fromisoformat(credentials(node)["node_token_expires_at"]) > soon


def test_a_stored_expiry_that_cannot_be_read_is_renewed(fba: Fba, node: Node) -> None:
    """A credentials file written by an fba that stored the IAM's text as it came."""
    node.write_token()
    fba.write_config(node.config())
    first = fba.run("iam-setup")
    assert first.rc == ExitCode.OK, first.describe()
    creds = credentials(node)
    old = creds["node_token"]
    creds["node_token_expires_at"] = "sometime next week"
    node.credentials_path.write_text(json.dumps(creds))

    again = fba.run("iam-setup")

    assert again.rc == ExitCode.OK, again.describe()
    assert credentials(node)["node_token"] != old
    assert "cannot be read" in " ".join(line["message"] for line in again.levels("WARN"))
