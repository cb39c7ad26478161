"""Inputs a fresh subagent found by trying `fba` as a new user: each was a traceback (exit 70),
a secret in a message, or data replaced without a word. Each test names the kind it belongs
to; the fix is where that kind is judged (automation/spec/urls.py for URLs and header values,
the config model, the CLI's number type, the credentials loader).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from automation.spec.exitcodes import ExitCode

from .conftest import Fba, Node, cause
from .expect import IAM_INITIALIZED, JOINED, markers_in
from .fakes import Answer

JOIN = ("join", "--service", "chainfire")
SECRET = "S3CRET-7f2c91"
VALIDATE_INVALID = ExitCode.CONFIG_INVALID  # `config validate`: 2 (its own table)


# Unusable URLs from a peer: a hint that cannot be asked is no hint (kind D) -----------------


@pytest.mark.parametrize(
    "hint",
    ["http://127.0.0.1:99999", "http://[::1", "http://admin:pw@127.0.0.1:1"],
    ids=["port-out-of-range", "broken-ipv6", "credentials"],
)
@pytest.mark.parametrize("where", ["421 leader_url", "member list leader"])
def test_an_unusable_leader_hint_is_set_aside_not_a_crash(fba: Fba, node: Node, hint: str, where: str) -> None:
    follower = node.leader()
    if where == "421 leader_url":
        follower.script("POST", "/admin/member/add", Answer(421, {"leader_url": hint}), repeat_last=True)
    else:
        view = node.clusters["chainfire"].view()
        follower.script("GET", "/admin/members", Answer(200, {**view, "leader": {"id": "x", "api_url": hint}}))
    fba.write_config(node.config(join={"max_attempts": 2, "deadline_s": 4}))

    result = fba.run(*JOIN)

    assert result.rc != ExitCode.INTERNAL, result.describe()
    assert "Traceback" not in result.output and "internal error" not in result.output, result.describe()
    assert "pw@" not in result.output  # a hint's credentials are never repeated
    assert markers_in(fba.state_dir) == [] or result.rc == ExitCode.OK


def test_a_bodiless_2xx_to_the_member_add_is_verified_by_reading(fba: Fba, node: Node) -> None:
    """204 No Content (or any 2xx) to the add: accepted, and the member list read next decides."""
    leader = node.leader()
    before = node.clusters["chainfire"].view()
    node.clusters["chainfire"].add_member("node04", "127.0.0.1:2380", node.chainfire.url)
    after = node.clusters["chainfire"].view()
    leader.script("GET", "/admin/members", Answer(200, before), Answer(200, after), repeat_last=True)
    leader.script("POST", "/admin/member/add", Answer(204), repeat_last=True)
    fba.write_config(node.config())

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.OK, result.describe()
    assert len(leader.requests_to("POST", "/admin/member/add")) == 1
    assert JOINED in markers_in(fba.state_dir)


# URLs and tokens in the config (kinds H and I: refused where loaded, never echoed) -----------


def test_credentials_in_a_config_url_are_refused_and_not_echoed(fba: Fba, node: Node) -> None:
    config = node.config()
    config["services"]["chainfire"]["leader_url"] = f"http://admin:{SECRET}@127.0.0.1:2379"
    fba.write_config(config)

    result = fba.run("config", "validate")

    assert result.rc == VALIDATE_INVALID, result.describe()
    assert "credentials in the URL" in result.output
    assert SECRET not in result.output


def test_a_notify_token_with_a_line_break_is_refused_and_not_echoed(fba: Fba, node: Node) -> None:
    fba.write_config(node.config(notify_url="http://127.0.0.1:9/hook", notify_token=f"{SECRET}\nX-Injected: 1"))

    # Each command's own "invalid configuration" code: 2 for `config validate`, 3 elsewhere.
    for argv, invalid in ((("config", "validate"), VALIDATE_INVALID), (("health-report",), ExitCode.INVALID)):
        result = fba.run(*argv)
        assert result.rc == invalid, result.describe()
        assert "a line break at position" in result.output, result.describe()
        assert SECRET not in result.output


def test_under_tls_a_notify_token_never_goes_to_a_plain_http_hook(fba: Fba, tls_node: Node) -> None:
    fba.write_config(tls_node.config(notify_url="http://127.0.0.1:9/hook", notify_token=SECRET))

    result = fba.run("config", "validate")

    assert result.rc == VALIDATE_INVALID, result.describe()
    assert "notify_url: expected an https:// URL because tls.enabled is true and notify_token is set" in result.output
    assert SECRET not in result.output


def test_a_bootstrap_token_with_a_line_break_is_refused_before_any_request(fba: Fba, node: Node) -> None:
    node.write_token(f"{SECRET}\nsecond-line")
    fba.write_config(node.config())

    result = fba.run("iam-setup")

    assert result.rc == ExitCode.INVALID, result.describe()
    assert "cannot be sent as a bearer token: a line break at position" in result.output
    assert SECRET not in result.output
    assert [r for r in node.iam.requests if r.path != "/health"] == []


@pytest.mark.parametrize("address", ["0.0.0.0:2380", "224.0.0.1:2380", "255.255.255.255:2380"])
def test_a_raft_address_peers_cannot_reach_is_refused(fba: Fba, node: Node, address: str) -> None:
    fba.write_config(node.config(raft_addr=address))

    result = fba.run("config", "validate")

    assert result.rc == VALIDATE_INVALID, result.describe()
    assert "not reachable by peers" in result.output


# Credentials already on disk are never replaced (kind: nothing written is lost) --------------


@pytest.mark.parametrize(
    "content",
    [[1, 2], {"admin_user": "admin", "admin_password": ["OLD"]}, {"admin_user": "root", "admin_password": "OLD"}],
    ids=["array", "password-not-text", "another-admin"],
)
def test_a_credentials_file_of_another_shape_is_kept_and_refused(fba: Fba, node: Node, content: object) -> None:
    node.write_token()
    node.credentials_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    text = json.dumps(content)
    fd = os.open(node.credentials_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.write(fd, text.encode())
    os.close(fd)
    fba.write_config(node.config())

    result = fba.run("iam-setup")

    assert result.rc == ExitCode.INVALID, result.describe()
    assert "move it away" in result.output
    assert node.credentials_path.read_text() == text
    assert IAM_INITIALIZED not in markers_in(fba.state_dir)


# Arguments (exit 3, one line) ---------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        (*JOIN, "--deadline", "inf"),
        (*JOIN, "--deadline", "nan"),
        ("wait-healthy", "--url", "http://127.0.0.1:1/", "--timeout", "inf"),
        ("status", "--wait", "--timeout", "nan"),
        ("analyze", "--factor", "1e400"),
        ("wait-healthy", "--url", "ftp://127.0.0.1:1/"),
        ("wait-healthy", "--url", "http://[::1"),
    ],
)
def test_arguments_that_cannot_mean_anything_are_usage_errors(fba: Fba, node: Node, argv: tuple[str, ...]) -> None:
    fba.write_config(node.config())

    result = fba.run(*argv, timeout=20)

    assert result.rc == ExitCode.INVALID, result.describe()
    assert "Traceback" not in result.output


def test_units_render_onto_a_file_is_a_usage_error(fba: Fba, tmp_path: Path) -> None:
    target = tmp_path / "a-file"
    target.write_text("keep me")

    result = fba.run("units", "render", str(target))

    assert result.rc == ExitCode.INVALID, result.describe()
    assert "exists and is not a directory" in result.output
    assert target.read_text() == "keep me"


def test_leader_errors_name_their_cause(fba: Fba, node: Node) -> None:
    """Guard for the above: a plain failing join still ends with a Cause, not an internal error."""
    fba.write_config(node.config(join={"max_attempts": 1, "deadline_s": 2}))

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.FAILED, result.describe()
    assert cause(result.last) != "internal error"
