"""Issue 12, kinds A, H and I at the process tier: `fba` as a subprocess against our fakes.

A. one JSON reader: a key given twice (the `dupkeys` case: a joining node that bootstrapped a
   new cluster), BOMs, NaN, out-of-range numbers, in the config, the IAM credentials file and
   the environment overrides: one line naming what and where, exit 2/3, nothing sent or written.
H. secret files checked where they are loaded (the `keymode` case): open to others is exit 3
   naming file and mode before any request; group-readable is a WARN naming the group;
   `preflight` reports the same verdicts.
I. defaults per field (the `partial-override` case): a partial `services.flaredb` section
   keeps flaredb's Raft port 2480.
"""

from __future__ import annotations

import grp
import json
import os
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from automation.spec.exitcodes import ExitCode

from .conftest import NODE_ID, Fba, Node, Servers
from .expect import FLAREDB_JOINED, JOINED, markers_in
from .fakes import Pki, ServerTls

JOIN = ("join", "--service", "chainfire")


def _dupkeys_text(node: Node) -> str:
    """The shared `dupkeys` case: `"bootstrap": false` on line 4, `"bootstrap": true` on line 10."""
    leader = node.leader()
    return (
        "{\n"
        f'  "node_id": "{NODE_ID}",\n'
        '  "node_role": "worker",\n'
        '  "bootstrap": false,\n'
        '  "cluster_name": "plasma",\n'
        f'  "leader_url": "{leader.url}",\n'
        '  "raft_addr": "127.0.0.1:2380",\n'
        f'  "initial_peers": ["node01=127.0.0.9:2380", "{NODE_ID}=127.0.0.1:2380"],\n'
        f'  "services": {{"chainfire": {{"api_port": {leader.port}}}}},\n'
        '  "bootstrap": true\n'
        "}\n"
    )


# ---------------------------------------------------------------------------------------------
# A. the JSON layer


def test_dupkeys_validate_names_the_key_and_both_lines(fba: Fba, node: Node) -> None:
    fba.write_config(_dupkeys_text(node))

    result = fba.run("config", "validate")

    assert result.rc == ExitCode.CONFIG_INVALID, result.describe()
    assert result.stdout == (
        f"{fba.config_path}: not valid JSON: key bootstrap given twice, at line 4 and line 10 "
        "(JSON readers disagree on which one wins; keep one)\n"
    )


@pytest.mark.parametrize("command", [JOIN, ("detect",), ("health-report",), ("leave", "--service", "chainfire")])
def test_dupkeys_every_command_refuses_and_sends_nothing(fba: Fba, node: Node, command: tuple[str, ...]) -> None:
    fba.write_config(_dupkeys_text(node))

    result = fba.run(*command)

    expected = ExitCode.DETECT_CONFIG_ERROR if command == ("detect",) else ExitCode.INVALID
    assert result.rc == expected, result.describe()
    assert "key bootstrap given twice, at line 4 and line 10" in result.last["message"]
    assert node.leaders["chainfire"].requests == [] and node.chainfire.requests == []
    assert markers_in(fba.state_dir) == []
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"join": {"deadline_s": NaN}}', "NaN is not JSON (write a number or null) at line 1 column 25"),
        ('{"join": {"deadline_s": 1e400}}', "join.deadline_s: number 1e400 is out of range at line 1 column 25"),
        (
            '{"join": {"max_attempts": 99999999999999999999999}}',
            "join.max_attempts: an integer of 23 digits is out of range (64-bit) at line 1 column 27",
        ),
        (
            '{"tls": {"enabled": false,\n "enabled": true}}',
            "key tls.enabled given twice, at line 1 and line 2 (JSON readers disagree on which one wins; keep one)",
        ),
    ],
)  # fmt: skip
def test_json_quirks_are_one_line_with_their_position(fba: Fba, text: str, problem: str) -> None:
    fba.write_config(text.encode())

    result = fba.run("config", "validate")

    assert result.rc == ExitCode.CONFIG_INVALID, result.describe()
    assert result.stdout == f"{fba.config_path}: not valid JSON: {problem}\n"


def test_a_utf8_bom_is_accepted(fba: Fba, node: Node) -> None:
    node.leader()
    fba.write_config(b"\xef\xbb\xbf" + json.dumps(node.config(), indent=2).encode())

    assert fba.run("config", "validate").rc == ExitCode.OK
    result = fba.run(*JOIN)

    assert result.rc == ExitCode.OK, result.describe()
    assert JOINED in markers_in(fba.state_dir)


def test_a_latin1_config_names_the_byte_and_its_line(fba: Fba) -> None:
    fba.write_config('{\n  "cluster_name": "Zürich"\n}'.encode("latin-1"))

    result = fba.run("config", "validate")

    assert result.rc == ExitCode.CONFIG_INVALID, result.describe()
    assert result.stdout == (
        f"{fba.config_path}: not valid JSON: byte 0xFC is not UTF-8 (byte offset 22) at line 2 column 21\n"
    )


def test_environment_override_is_read_by_the_same_rules(fba: Fba, node: Node) -> None:
    fba.write_config(node.config())

    result = fba.run(*JOIN, env={"FBA_JOIN_DEADLINE_S": "Infinity"})

    assert result.rc == ExitCode.INVALID, result.describe()
    assert result.last["context"]["problems"] == [
        'FBA_JOIN_DEADLINE_S (join.deadline_s): expected a number, got "Infinity"'
    ]


def test_environment_override_keeps_the_notify_token(fba: Fba, node: Node, servers: Servers) -> None:
    """An override once re-validated a masked dump: the webhook got `Bearer **********`."""
    hook = servers.start("hook")
    node.list_self()
    node.serve_members()
    fba.write_config(node.config(notify_url=hook.url + "/hook", notify_token="tok-81f2", notify_attempts=1))

    fba.run("health-report", env={"FBA_HEALTH_TIMEOUT_S": "2"})

    posts = hook.requests_to("POST", "/hook")
    assert posts, "no webhook call"
    assert posts[0].headers["authorization"] == "Bearer tok-81f2"


def test_credentials_file_with_a_duplicate_key_is_refused_and_kept(fba: Fba, node: Node) -> None:
    node.write_token()
    text = '{"admin_user": "admin",\n "admin_password": "staged-1",\n "admin_password": "staged-2"}\n'
    fd = os.open(node.credentials_path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, text.encode())
    os.close(fd)
    fba.write_config(node.config())

    result = fba.run("iam-setup")

    assert result.rc == ExitCode.INVALID, result.describe()
    assert "key admin_password given twice, at line 2 and line 3" in result.last["message"]
    assert node.credentials_path.read_text() == text  # never replaced: it may hold the only password
    assert [r for r in node.iam.requests if r.method == "POST"] == []


# ---------------------------------------------------------------------------------------------
# H. secret files


def _mtls_node(servers: Servers, tmp_path: Path, pki: Pki, key_mode: int) -> tuple[Node, dict[str, Any], Path]:
    node = Node(servers, tmp_path, tls=ServerTls(pki, require_client_cert=True))
    node.leader()
    key = pki.directory / "node.key"
    shutil.copy(pki.client_key, key)
    os.chmod(key, key_mode)
    config = node.config(tls={"node_cert_path": str(pki.client_cert), "node_key_path": str(key)})
    return node, config, key


@pytest.mark.parametrize(
    "command",
    [
        JOIN,
        ("leave", "--service", "chainfire"),
        ("health-report",),
        ("iam-setup",),
        ("wait-healthy", "--service", "chainfire"),
    ],
)
def test_keymode_world_readable_key_is_refused_before_any_request(
    fba: Fba, servers: Servers, tmp_path: Path, pki: Pki, command: tuple[str, ...]
) -> None:
    node, config, key = _mtls_node(servers, tmp_path, pki, 0o644)
    node.write_token()
    fba.write_config(config)

    result = fba.run(*command)

    assert result.rc == ExitCode.INVALID, result.describe()
    assert result.last["message"] == (
        f"TLS private key (tls.node_key_path) {key} is world-readable (mode 0644); "
        f"fba refuses to use it: chmod o-rwx {key}"
    )
    assert node.leaders["chainfire"].requests == [] and node.chainfire.requests == [] and node.iam.requests == []
    assert markers_in(fba.state_dir) == []


def test_group_readable_key_warns_naming_mode_and_group_and_joins(
    fba: Fba, servers: Servers, tmp_path: Path, pki: Pki
) -> None:
    _, config, key = _mtls_node(servers, tmp_path, pki, 0o640)
    fba.write_config(config)

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.OK, result.describe()
    group = grp.getgrgid(os.stat(key).st_gid).gr_name
    warns = result.with_message(f"{key} is group-readable (mode 0640, group {group})", level="WARN")
    assert len(warns) == 1 and warns[0]["context"]["mode"] == "0640", result.describe()


def test_world_readable_config_is_refused_by_steps_and_reported_by_preflight(fba: Fba, node: Node) -> None:
    fba.write_config(node.config(notify_token="tok-1"))
    fba.config_path.chmod(0o604)

    join = fba.run(*JOIN)
    preflight = fba.run("preflight")

    assert join.rc == ExitCode.INVALID, join.describe()
    assert f"{fba.config_path} is world-readable (mode 0604)" in join.last["message"]
    assert preflight.rc == ExitCode.FAILED, preflight.describe()
    check = [line for line in preflight.lines if line["context"].get("check") == "config-permissions"]
    assert check[0]["level"] == "ERROR" and "(mode 0604)" in check[0]["context"]["detail"]


def test_preflight_reports_every_secret_file_from_the_same_rule(fba: Fba, node: Node) -> None:
    node.write_token(mode=0o640)
    fd = os.open(node.credentials_path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"{}")
    os.close(fd)
    os.chmod(node.credentials_path, 0o644)
    fba.write_config(node.config())

    result = fba.run("preflight")

    assert result.rc == ExitCode.FAILED, result.describe()
    checks = {line["context"]["check"]: line for line in result.lines if "check" in line.get("context", {})}
    assert checks["config-permissions"]["level"] == "INFO"
    assert checks["iam-token-permissions"]["level"] == "WARN"
    assert "group-readable (mode 0640" in checks["iam-token-permissions"]["context"]["detail"]
    assert checks["iam-credentials-permissions"]["level"] == "ERROR"
    iam_setup = fba.run("iam-setup")
    assert iam_setup.rc == ExitCode.INVALID
    assert f"{node.credentials_path} is world-readable (mode 0644)" in iam_setup.last["message"]


# ---------------------------------------------------------------------------------------------
# I. defaults per field


def test_partial_flaredb_section_registers_flaredbs_raft_port(fba: Fba, node: Node) -> None:
    """The shared `partial-override` case: only `services.flaredb.api_port` given."""
    leader = node.peer("flaredb", cluster=node.clusters["flaredb"])
    config = {
        "node_id": NODE_ID,
        "node_role": "worker",
        "bootstrap": False,
        "cluster_name": "plasma",
        # The leader's host only: chainfire's leader there on chainfire's default port, flaredb's
        # on flaredb's api_port (`leader.url`, on that port, would be chainfire's leader on
        # flaredb's port, a config error: break 9, F19).
        "leader_url": f"http://{urlsplit(leader.url).hostname}",
        "raft_addr": "127.0.0.1:2380",
        "services": {"flaredb": {"api_port": node.flaredb.port}},
        "join": {"max_attempts": 3, "retry_delay_s": 0.05, "deadline_s": 10, "request_timeout_s": 2},
    }
    fba.write_config(config)

    result = fba.run("join", "--service", "flaredb")

    assert result.rc == ExitCode.OK, result.describe()
    adds = leader.requests_to("POST", "/admin/member/add")
    assert [r.body["raft_addr"] for r in adds] == ["127.0.0.1:2480"]
    assert FLAREDB_JOINED in markers_in(fba.state_dir)


def test_leader_url_contradicting_api_port_is_a_config_error(fba: Fba, node: Node) -> None:
    config = node.config(leader_url="http://127.0.0.1:2381")
    config["services"]["chainfire"] = {"api_port": 2379}
    fba.write_config(config)

    result = fba.run("config", "validate")

    assert result.rc == ExitCode.CONFIG_INVALID
    assert "leader_url: its port 2381 contradicts services.chainfire.api_port 2379" in result.stdout


def test_a_contradiction_that_changes_nothing_is_said_not_resolved(fba: Fba, node: Node) -> None:
    """services.chainfire.raft_port is not used (raft_addr is chainfire's Raft address): a
    different value there is a warning from validate and a WARN line from every step."""
    config = node.config()
    config["services"]["chainfire"]["raft_port"] = 2390
    fba.write_config(config)

    validate = fba.run("config", "validate")
    detect = fba.run("detect")

    assert validate.rc == ExitCode.OK
    assert f"{fba.config_path}: warning: services.chainfire.raft_port 2390 differs from raft_addr" in validate.stdout
    assert detect.rc == ExitCode.JOIN
    assert detect.with_message("services.chainfire.raft_port 2390 differs", level="WARN")
