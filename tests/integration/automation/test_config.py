"""`fba config validate` and `fba detect` on the design's examples and on hostile files:
documented exit codes, one line per problem, never a traceback."""

from __future__ import annotations

import json
from typing import Any

import pytest

from automation.spec.exitcodes import ExitCode

from .conftest import Fba

# The design's examples, completed with the appendix's required fields.
DESIGN_BOOTSTRAP: dict[str, Any] = {
    "node_id": "node01",
    "node_role": "control-plane",
    "bootstrap": True,
    "cluster_name": "plasma",
    "leader_url": "https://node01.example.com:2379",
    "raft_addr": "10.0.1.10:2380",
    "initial_peers": ["node01:2380", "node02:2380", "node03:2380"],
    "flaredb_peers": ["node01:2480", "node02:2480", "node03:2480"],
    "tls": {
        "enabled": True,
        "ca_cert_path": "/etc/nixos/secrets/ca.crt",
        "node_cert_path": "/etc/nixos/secrets/node01.crt",
        "node_key_path": "/etc/nixos/secrets/node01.key",
    },
}
DESIGN_JOIN: dict[str, Any] = {
    "node_id": "node04",
    "node_role": "worker",
    "bootstrap": False,
    "cluster_name": "plasma",
    "leader_url": "https://node01.example.com:2379",
    "raft_addr": "10.0.1.13:2380",
    "tls": {"enabled": True, "ca_cert_path": "/etc/nixos/secrets/ca.crt"},
}
# The design's fragments exactly as printed under "Bootstrap Mode" / "Join Mode".
FRAGMENT_BOOTSTRAP = {"bootstrap": True, "initial_peers": ["node01:2380", "node02:2380", "node03:2380"]}
FRAGMENT_JOIN = {"bootstrap": False, "leader_url": "https://node01.example.com:2379", "raft_addr": "10.0.1.13:2380"}


def _deep(depth: int) -> bytes:
    return b'{"node_id": ' + b"[" * depth + b"]" * depth + b"}"


HOSTILE: dict[str, bytes] = {
    "empty": b"",
    "whitespace": b"  \n\t ",
    "binary": bytes(range(256)) * 4,
    "not-utf8": b'{"node_id": "\xff\xfe"}',
    "huge": b'{"node_id": "' + b"a" * (2 * 1024 * 1024) + b'"}',
    "deeply-nested": _deep(100_000),
    "nested-object": b'{"a":' * 5000 + b"1" + b"}" * 5000,
    "truncated": json.dumps(DESIGN_JOIN).encode()[:-10],
    "array": b"[1, 2, 3]",
    "null": b"null",
    "string": b'"cluster"',
    "nul-bytes": b"{\x00\x00}",
}


def _problem_lines(stdout: str, fba: Fba) -> list[str]:
    lines = [line for line in stdout.splitlines() if line.strip()]
    for line in lines:
        assert line.startswith(f"{fba.config_path}: "), line
    return lines


@pytest.mark.parametrize(("config", "mode"), [(DESIGN_BOOTSTRAP, ExitCode.BOOTSTRAP), (DESIGN_JOIN, ExitCode.JOIN)])
def test_design_examples_validate_and_detect(fba: Fba, config: dict[str, Any], mode: ExitCode) -> None:
    fba.write_config(config)

    validate = fba.run("config", "validate")
    detect = fba.run("detect")

    assert validate.rc == ExitCode.OK, validate.describe()
    assert len(_problem_lines(validate.stdout, fba)) == 1 and "valid" in validate.stdout
    assert detect.rc == mode, detect.describe()
    assert detect.lines and detect.last["context"]["bootstrap"] is config["bootstrap"]


@pytest.mark.parametrize("fragment", [FRAGMENT_BOOTSTRAP, FRAGMENT_JOIN], ids=["bootstrap", "join"])
def test_design_fragments_name_every_missing_field(fba: Fba, fragment: dict[str, Any]) -> None:
    fba.write_config(fragment)

    result = fba.run("config", "validate")

    assert result.rc == ExitCode.CONFIG_INVALID, result.describe()
    lines = _problem_lines(result.stdout, fba)
    required = {"node_id", "node_role", "bootstrap", "cluster_name", "leader_url", "raft_addr"} - set(fragment)
    for field in required:
        assert any(f": {field}: required field is missing" in line for line in lines), (field, lines)
    assert len(lines) == len(required)


def test_missing_file(fba: Fba) -> None:
    validate = fba.run("config", "validate")
    detect = fba.run("detect")
    join = fba.run("join", "--service", "chainfire")

    assert validate.rc == ExitCode.CONFIG_INVALID and "Configuration file not found" in validate.stdout
    assert detect.rc == ExitCode.DETECT_CONFIG_ERROR
    assert detect.last["message"].startswith("Configuration file not found")
    assert join.rc == ExitCode.INVALID
    assert join.last["level"] == "ERROR" and join.last["message"].startswith("Configuration file not found")
    for result in (validate, detect, join):
        assert "Traceback" not in result.output


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_files_give_one_line_and_exit_2(fba: Fba, name: str) -> None:
    fba.write_config(HOSTILE[name])

    validate = fba.run("config", "validate")
    detect = fba.run("detect")

    assert validate.rc == ExitCode.CONFIG_INVALID, validate.describe()
    lines = _problem_lines(validate.stdout, fba)
    assert 1 <= len(lines) <= 10, lines
    assert all(len(line) < 1000 for line in lines)
    assert detect.rc == ExitCode.DETECT_CONFIG_ERROR, detect.describe()
    assert detect.last["level"] == "ERROR"
    for result in (validate, detect):
        assert "Traceback" not in result.output
        assert result.stderr == ""


def test_wrong_types_one_line_per_problem(fba: Fba) -> None:
    bad = {
        **DESIGN_JOIN,
        "bootstrap": "false",
        "raft_addr": "10.0.1.13",
        "node_role": "boss",
        "initial_peers": "node01:2380",
        "leader_ur1": "https://x:1",
        "join": {"max_attempts": "5"},
    }
    fba.write_config(bad)

    result = fba.run("config", "validate")

    assert result.rc == ExitCode.CONFIG_INVALID, result.describe()
    lines = _problem_lines(result.stdout, fba)
    text = "\n".join(lines)
    assert len(lines) == 6, lines
    assert 'raft_addr: expected IPv4:port, got "10.0.1.13"' in text
    assert "bootstrap: expected true or false" in text
    assert "node_role: expected one of" in text
    assert "initial_peers: expected a list" in text
    assert "leader_ur1: unknown key; did you mean 'leader_url'?" in text
    assert "join.max_attempts: expected an integer" in text


def test_raft_addr_octets_and_port_are_checked(fba: Fba) -> None:
    for raft_addr in ("10.0.1.256:2380", "10.0.1.13:0", "10.0.1.13:65536", "node04:2380"):
        fba.write_config({**DESIGN_JOIN, "raft_addr": raft_addr})
        result = fba.run("config", "validate")
        assert result.rc == ExitCode.CONFIG_INVALID, result.describe()
        assert "raft_addr: expected IPv4:port" in result.stdout and raft_addr in result.stdout


def test_join_with_invalid_config_is_exit_3_and_sends_nothing(fba: Fba) -> None:
    fba.write_config({**DESIGN_JOIN, "raft_addr": "10.0.1.13"})

    result = fba.run("join", "--service", "chainfire")

    assert result.rc == ExitCode.INVALID, result.describe()
    assert result.last["context"]["cause"] == "invalid configuration"
    assert "Traceback" not in result.output


def test_group_readable_config_warns(fba: Fba) -> None:
    fba.write_config(DESIGN_JOIN)
    fba.config_path.chmod(0o644)

    result = fba.run("config", "validate")

    assert result.rc == ExitCode.OK, result.describe()
    assert "warning" in result.stdout and "0644" in result.stdout


def test_schema_is_draft07_and_superset_of_the_appendix(fba: Fba) -> None:
    result = fba.run("config", "schema", global_paths=False)

    assert result.rc == ExitCode.OK
    schema = json.loads(result.stdout)
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert {"node_id", "node_role", "bootstrap", "cluster_name", "leader_url", "raft_addr"} <= set(schema["required"])
    assert {"initial_peers", "flaredb_peers", "tls"} <= set(schema["properties"])


@pytest.mark.parametrize("token", ["notify-secret-0f3a9c", 1234567890123])
def test_notify_token_never_printed_by_validate(fba: Fba, token: object) -> None:
    fba.write_config({**DESIGN_JOIN, "notify_url": "https://prov.example.com/hook", "notify_token": token, "bogus": 1})

    result = fba.run("config", "validate")

    assert result.rc == ExitCode.CONFIG_INVALID, result.describe()
    assert str(token) not in result.output
