"""`fba iam-setup` against a fake IAM: admin created or created elsewhere, node token,
credentials file 0600, expired/missing bootstrap token, crash-safety, and no secret ever
printed."""

from __future__ import annotations

import datetime as dt
import json
import signal
from pathlib import Path

import pytest

from automation.spec.exitcodes import ExitCode

from .conftest import NODE_ID, Fba, FbaResult, Node, cause
from .expect import IAM_INITIALIZED, assert_marker, assert_no_secret, credentials, markers_in, mode_of


def _secrets(node: Node, *extra: str | None) -> list[str | None]:
    with node.iam_state.lock:
        passwords = [u["password"] for u in node.iam_state.users.values()]
        tokens = list(node.iam_state.issued)
    return [node.iam_state.bootstrap_token, *passwords, *tokens, *extra]


def _assert_quiet(node: Node, *results: FbaResult) -> None:
    creds = credentials(node) if node.credentials_path.exists() else {}
    for result in results:
        assert_no_secret(result.output, *_secrets(node, creds.get("admin_password"), creds.get("node_token")))


def test_creates_admin_and_node_token(fba: Fba, node: Node) -> None:
    node.write_token()
    fba.write_config(node.config())

    result = fba.run("iam-setup")

    assert result.rc == ExitCode.OK, result.describe()
    assert_marker(fba.marker(IAM_INITIALIZED))
    assert mode_of(node.credentials_path) == 0o600
    creds = credentials(node)
    assert creds["admin_status"] == "created"
    assert creds["admin_password"] == node.iam_state.users["admin"]["password"]
    assert creds["node_token"] in node.iam_state.issued
    assert creds["node_token_subject"] == f"node:{NODE_ID}"
    assert node.iam_state.admins() == ["admin"]
    for request in node.iam.requests:
        if request.path != "/health":
            assert request.headers["authorization"] == f"Bearer {node.iam_state.bootstrap_token}"
    _assert_quiet(node, result)


def test_rerun_after_success_is_already_done_without_requests(fba: Fba, node: Node) -> None:
    node.write_token()
    fba.write_config(node.config())
    first = fba.run("iam-setup")
    assert first.rc == ExitCode.OK, first.describe()
    node.iam.clear()

    again = fba.run("iam-setup")

    assert again.rc == ExitCode.ALREADY_DONE, again.describe()
    assert node.iam.requests == []
    _assert_quiet(node, first, again)


def test_admin_409_means_created_elsewhere(fba: Fba, node: Node) -> None:
    node.iam_state.add_user("admin", password="the-other-nodes-password")
    node.write_token()
    fba.write_config(node.config())

    result = fba.run("iam-setup")

    assert result.rc == ExitCode.OK, result.describe()
    creds = credentials(node)
    assert creds["admin_password"] is None
    assert creds["admin_status"] == "created-elsewhere"
    assert isinstance(creds["node_token"], str) and creds["node_token"]
    assert node.iam_state.admins() == ["admin"]
    assert_marker(fba.marker(IAM_INITIALIZED))
    _assert_quiet(node, result)


def test_other_admin_present_means_no_create(fba: Fba, node: Node) -> None:
    node.iam_state.add_user("root", password="roots-password")
    node.write_token()
    fba.write_config(node.config())

    result = fba.run("iam-setup")

    assert result.rc == ExitCode.OK, result.describe()
    assert node.iam.requests_to("POST", "/users") == []
    assert credentials(node)["admin_status"] == "created-elsewhere"
    _assert_quiet(node, result)


def test_expired_bootstrap_token_fails_naming_it(fba: Fba, node: Node) -> None:
    node.iam_state.expired = True
    node.write_token()
    fba.write_config(node.config())

    result = fba.run("iam-setup")

    assert result.rc == ExitCode.FAILED, result.describe()
    # 401 means "never" (automation.spec.http_status): one request, the answer quoted.
    assert cause(result.last) == "rejected"
    assert "HTTP 401" in result.last["message"] and "token expired" in result.last["message"]
    assert len(node.iam.requests_to("GET", "/users")) == 1
    assert markers_in(fba.state_dir) == []
    _assert_quiet(node, result)


def test_missing_bootstrap_token_is_invalid_configuration(fba: Fba, node: Node) -> None:
    fba.write_config(node.config())

    result = fba.run("iam-setup")

    assert result.rc == ExitCode.INVALID, result.describe()
    assert str(node.token_path) in result.last["message"]
    assert node.iam.requests == []
    assert "Traceback" not in result.output


def test_world_readable_bootstrap_token_is_refused(fba: Fba, node: Node) -> None:
    node.write_token(mode=0o644)
    fba.write_config(node.config())

    result = fba.run("iam-setup")

    assert result.rc == ExitCode.INVALID, result.describe()
    assert node.iam.requests == []
    _assert_quiet(node, result)


def test_crash_after_admin_create_keeps_the_staged_password(fba: Fba, node: Node) -> None:
    node.write_token()
    fba.write_config(node.config())
    env = {"FBA_FAILPOINTS": "iam.after-admin-create=crash"}

    crashed = fba.run("iam-setup", env=env)

    assert crashed.rc == -signal.SIGKILL, crashed.describe()
    staged = credentials(node)["admin_password"]
    assert staged and staged == node.iam_state.users["admin"]["password"]  # IAM has the admin, we have its password
    assert markers_in(fba.state_dir) == []

    rerun = fba.run("iam-setup", env=env)

    assert rerun.rc == ExitCode.OK, rerun.describe()
    assert node.iam_state.admins() == ["admin"]
    assert [r.status for r in node.iam.requests_to("POST", "/users")] == [201, 200]  # the replay is recognised
    creds = credentials(node)
    # The admin IAM holds was created with our staged password: it must not be thrown away.
    assert creds["admin_password"] == staged, creds.get("admin_status")
    assert creds["admin_status"] == "created"
    assert_marker(fba.marker(IAM_INITIALIZED))
    _assert_quiet(node, crashed, rerun)


def test_crash_after_token_then_rerun_converges(fba: Fba, node: Node) -> None:
    node.write_token()
    fba.write_config(node.config())
    env = {"FBA_FAILPOINTS": "iam.after-token=crash"}

    crashed = fba.run("iam-setup", env=env)
    assert crashed.rc == -signal.SIGKILL, crashed.describe()

    rerun = fba.run("iam-setup", env=env)

    assert rerun.rc == ExitCode.OK, rerun.describe()
    creds = credentials(node)
    assert creds["admin_status"] == "created"
    assert creds["node_token"] in node.iam_state.issued
    assert node.iam_state.admins() == ["admin"]
    assert_marker(fba.marker(IAM_INITIALIZED))
    _assert_quiet(node, crashed, rerun)


def test_crash_before_create_sends_the_staged_password_on_rerun(fba: Fba, node: Node) -> None:
    node.write_token()
    fba.write_config(node.config())
    env = {"FBA_FAILPOINTS": "iam.before-create=crash"}

    crashed = fba.run("iam-setup", env=env)

    assert crashed.rc == -signal.SIGKILL, crashed.describe()
    staged = credentials(node)["admin_password"]
    assert staged and node.iam_state.admins() == []

    rerun = fba.run("iam-setup", env=env)

    assert rerun.rc == ExitCode.OK, rerun.describe()
    assert [r.status for r in node.iam.requests_to("POST", "/users")] == [201]
    assert credentials(node)["admin_password"] == staged == node.iam_state.users["admin"]["password"]
    _assert_quiet(node, crashed, rerun)


def test_a_symlinked_credentials_file_stays_a_link_and_its_target_gets_the_secrets(
    fba: Fba, node: Node, tmp_path: Path
) -> None:
    """Break 7, finding 4: impermanence links the credentials into /persist; the atomic rename
    replaced the link with a plain file and the persistent copy kept nothing (lost at reboot)."""
    node.write_token()
    fba.write_config(node.config())
    persist = tmp_path / "persist"
    persist.mkdir(mode=0o700)
    node.credentials_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    node.credentials_path.symlink_to(persist / "iam-admin.json")
    # The persistent copy as an earlier boot left it: nothing staged yet.
    (persist / "iam-admin.json").write_text(
        '{"admin_user": "admin", "admin_password": null, "admin_status": "pending"}'
    )
    (persist / "iam-admin.json").chmod(0o600)

    result = fba.run("iam-setup")

    assert result.rc == ExitCode.OK, result.describe()
    assert node.credentials_path.is_symlink()
    creds = json.loads((persist / "iam-admin.json").read_text())
    assert creds["admin_password"] == node.iam_state.users["admin"]["password"]
    assert mode_of(persist / "iam-admin.json") == 0o600


def test_a_dangling_credentials_link_is_one_line_before_iam_is_changed(fba: Fba, node: Node, tmp_path: Path) -> None:
    node.write_token()
    fba.write_config(node.config())
    node.credentials_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    node.credentials_path.symlink_to(tmp_path / "persist" / "iam-admin.json")

    result = fba.run("iam-setup")

    assert result.rc == ExitCode.FAILED, result.describe()
    assert cause(result.last) == "state not written"
    assert "which does not exist" in result.levels("ERROR")[-1]["message"]
    assert node.iam_state.admins() == []  # nothing was created that the node cannot record
    assert node.credentials_path.is_symlink()


def test_credentials_at_a_marker_name_is_refused_before_any_request(fba: Fba, node: Node) -> None:
    """Break 10, G9: the marker was written over the only copy of the admin password."""
    node.write_token()
    config = node.config()
    config["iam"]["credentials_path"] = str(fba.state_dir / ".iam-initialized")
    fba.write_config(config)

    result = fba.run("iam-setup")

    assert result.rc == ExitCode.INVALID, result.describe()
    assert "iam.credentials_path and .iam-initialized in the state dir are the same file" in result.last["message"]
    assert node.iam.requests == []
    assert markers_in(fba.state_dir) == []


@pytest.mark.parametrize("status", ["created", "created-elsewhere"])
def test_a_surviving_credentials_file_does_not_stand_for_the_admin(fba: Fba, node: Node, status: str) -> None:
    """Break 10, G12: a file from an earlier install said `created`; the IAM had no admin."""
    password = "old-cluster-pw" if status == "created" else None
    node.credentials_path.parent.mkdir(parents=True, exist_ok=True)
    node.credentials_path.write_text(
        json.dumps(
            {
                "admin_user": "admin",
                "admin_password": password,
                "admin_status": status,
                "iam_url": "http://10.0.0.9:8080",
            }
        )
    )
    node.credentials_path.chmod(0o600)
    node.write_token()
    fba.write_config(node.config())

    result = fba.run("iam-setup")

    assert result.rc == ExitCode.OK, result.describe()
    assert node.iam_state.admins() == ["admin"]
    creds = credentials(node)
    assert creds["admin_status"] == "created"
    assert creds["admin_password"] == node.iam_state.users["admin"]["password"]
    if password:
        assert creds["admin_password"] == password  # the stored password became true
    _assert_quiet(node, result)


def test_a_created_file_whose_admin_the_iam_lacks_beside_another_admin_fails(fba: Fba, node: Node) -> None:
    node.iam_state.add_user("root", password="roots-password")
    node.credentials_path.parent.mkdir(parents=True, exist_ok=True)
    node.credentials_path.write_text(
        json.dumps({"admin_user": "admin", "admin_password": "old-cluster-pw", "admin_status": "created"})
    )
    node.credentials_path.chmod(0o600)
    node.write_token()
    fba.write_config(node.config())

    result = fba.run("iam-setup")

    assert result.rc == ExitCode.FAILED, result.describe()
    assert "from another cluster" in result.last["message"]
    assert credentials(node)["admin_password"] == "old-cluster-pw"  # never dropped
    assert markers_in(fba.state_dir) == []


def test_users_that_are_not_admins_are_not_counted_as_admins(fba: Fba, node: Node) -> None:
    """Break 10, G13: an IAM that ignores `?role=admin` answers every user."""
    node.iam_state.ignores_role_filter = True
    node.iam_state.add_user("svc-backup", role="user", password="backup-pw")
    node.write_token()
    fba.write_config(node.config())

    result = fba.run("iam-setup")

    assert result.rc == ExitCode.OK, result.describe()
    assert sorted(node.iam_state.admins()) == ["admin"]
    assert credentials(node)["admin_status"] == "created"
    _assert_quiet(node, result)


def test_a_plain_user_holding_the_admin_name_is_an_error_not_another_nodes_admin(fba: Fba, node: Node) -> None:
    """Break 10, G13: 409 "user exists" for a plain user named `admin` was read as "created by
    another node": exit 0 with no admin."""
    node.iam_state.add_user("admin", role="user", password="plain-pw")
    node.write_token()
    fba.write_config(node.config())

    result = fba.run("iam-setup")

    assert result.rc == ExitCode.FAILED, result.describe()
    assert "taken by a user that is not an admin" in result.last["message"]
    assert markers_in(fba.state_dir) == []
    _assert_quiet(node, result)


def test_a_node_token_expired_on_arrival_is_a_bad_response(fba: Fba, node: Node) -> None:
    """Break 10, G11: exit 0 said "node token stored" for a token nothing could use."""
    node.iam_state.token_expires_at = "2020-01-01T00:00:00Z"
    node.write_token()
    fba.write_config(node.config())

    result = fba.run("iam-setup")

    assert result.rc == ExitCode.FAILED, result.describe()
    assert cause(result.last) == "bad response"
    assert "already expired" in result.last["message"]
    assert markers_in(fba.state_dir) == []
    _assert_quiet(node, result)


@pytest.mark.parametrize("left_s", [-60, 120])
def test_a_stored_node_token_expired_or_about_to_is_renewed(fba: Fba, node: Node, left_s: int) -> None:
    """Break 10, G11: the marker short-circuited every later run ("nothing to do")."""
    node.write_token()
    fba.write_config(node.config())
    first = fba.run("iam-setup")
    assert first.rc == ExitCode.OK, first.describe()
    creds = credentials(node)
    old_token = creds["node_token"]
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=left_s)
    creds["node_token_expires_at"] = soon.isoformat(timespec="seconds")
    node.credentials_path.write_text(json.dumps(creds))

    again = fba.run("iam-setup")

    assert again.rc == ExitCode.OK, again.describe()
    renewed = credentials(node)
    assert renewed["node_token"] != old_token and renewed["node_token"] in node.iam_state.issued
    assert dt.datetime.fromisoformat(renewed["node_token_expires_at"]) > soon
    assert renewed["admin_status"] == "created" and renewed["admin_password"] == creds["admin_password"]
    assert node.iam_state.admins() == ["admin"]
    _assert_quiet(node, first, again)
