"""Config validation: the design's examples pass; every problem is one line with its JSON path."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from automation.configfile import parse
from automation.errors import ConfigError
from automation.spec.config import ClusterConfig, json_schema
from automation.spec.markers import Service


def problems(data: dict[str, Any]) -> tuple[str, ...]:
    with pytest.raises(ConfigError) as caught:
        parse(json.dumps(data).encode())
    return caught.value.problems


def test_design_examples_validate(bootstrap_config: dict[str, Any], join_config: dict[str, Any]) -> None:
    assert parse(json.dumps(bootstrap_config).encode()).bootstrap is True
    joined = parse(json.dumps(join_config).encode())
    assert joined.leader_url_for(Service.FLAREDB) == "https://node01.example.com:2479"
    assert joined.service_raft_addr(Service.FLAREDB) == "10.0.1.13:2480"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"raft_addr": "10.0.1.13"}, 'raft_addr: expected IPv4:port, got "10.0.1.13"'),
        ({"raft_addr": "256.0.1.13:2380"}, 'raft_addr: expected IPv4:port, got "256.0.1.13:2380"'),
        (
            {"raft_addr": "10.0.1.13:70000"},
            'raft_addr: expected IPv4:port with a port in 1-65535, got "10.0.1.13:70000"',
        ),
        ({"raft_addr": "node04:2380"}, 'raft_addr: expected IPv4:port, got "node04:2380"'),
        ({"bootstrap": "false"}, 'bootstrap: expected true or false, got "false"'),
        ({"node_role": "boss"}, "node_role: expected one of 'control-plane', 'worker' or 'all-in-one', got \"boss\""),
        ({"leader_url": "ftp://x"}, 'leader_url: expected an http:// or https:// URL, got "ftp://x"'),
        ({"leader_ur1": "https://x:1"}, "leader_ur1: unknown key; did you mean 'leader_url'?"),
        ({"tls": {"enabeld": True}}, "tls.enabeld: unknown key; did you mean 'enabled'?"),
        ({"initial_peers": ["node01:2380", 5]}, "initial_peers[1]: expected a string, got 5"),
        ({"join": {"max_attempts": 0}}, "join.max_attempts: out of range (at least 1, at most 1000), got 0"),
        (
            {"leader_url": "http://node01:2379"},
            'leader_url: expected an https:// URL because tls.enabled is true, got "http://node01:2379"',
        ),
    ],
)
def test_one_line_per_problem(join_config: dict[str, Any], change: dict[str, Any], expected: str) -> None:
    join_config.update(change)
    assert problems(join_config) == (expected,)


def test_missing_required_fields_are_all_named() -> None:
    assert problems({}) == tuple(
        f"{name}: required field is missing"
        for name in ("node_id", "node_role", "bootstrap", "cluster_name", "leader_url", "raft_addr")
    )


def test_bootstrap_node_must_list_itself(bootstrap_config: dict[str, Any]) -> None:
    bootstrap_config["initial_peers"] = ["node02:2380", "node03:2380"]
    assert problems(bootstrap_config) == (
        "initial_peers: a bootstrap node must list itself (node01 or 10.0.1.11:2380)",
    )


@pytest.mark.parametrize("peers", [["node01:2380"], ["10.0.1.11:2380"], ["node01=10.0.1.11:2380"]])
def test_bootstrap_self_forms(bootstrap_config: dict[str, Any], peers: list[str]) -> None:
    bootstrap_config["initial_peers"] = peers
    parse(json.dumps(bootstrap_config).encode())


def test_secret_values_never_echoed(join_config: dict[str, Any]) -> None:
    join_config["notify_token"] = ["s3cr3t-value-123"]
    join_config["notify_url"] = "https://prov.example:8443/hook"
    text = "\n".join(problems(join_config))
    assert "s3cr3t" not in text
    assert text.startswith("notify_token:")


def test_schema_is_draft07_superset_of_design() -> None:
    schema = json_schema()
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert set(schema["required"]) == {"node_id", "node_role", "bootstrap", "cluster_name", "leader_url", "raft_addr"}
    assert schema["properties"]["raft_addr"]["pattern"] == "^[0-9.]+:[0-9]+$"
    assert schema["properties"]["leader_url"]["format"] == "uri"
    assert "$defs" not in json.dumps(schema)


@pytest.mark.parametrize(
    ("raw", "first"),
    [
        (b"", "Configuration file is empty"),
        (b"   \n", "Configuration file is empty"),
        (b"\xff\xfe\x00", "not valid JSON: the file is UTF-16 text (byte order mark FF FE); save it as UTF-8"),
        (b'{"node_id": "n\xe9"}', "not valid JSON: byte 0xE9 is not UTF-8 (byte offset 14) at line 1 column 15"),
        (b"\xef\xbb\xbf{}", "node_id: required field is missing"),
        (b"[" * 100_000, "not valid JSON"),
        (b"null", "expected an object"),
    ],
)
def test_garbage_files(raw: bytes, first: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(raw)
    assert caught.value.problems[0].startswith(first)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048))
def test_any_bytes_give_config_or_one_line_errors(raw: bytes) -> None:
    try:
        config = parse(raw)
    except ConfigError as err:
        assert err.problems
        assert all("\n" not in p and p for p in err.problems)
    else:
        assert isinstance(config, ClusterConfig)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["node_id", "bootstrap", "raft_addr", "tls", "join", "x"]), json_values))
def test_any_json_object_gives_config_or_one_line_errors(overrides: dict[str, Any]) -> None:
    data = {
        "node_id": "n1",
        "node_role": "worker",
        "bootstrap": False,
        "cluster_name": "c",
        "leader_url": "http://a:1",
        "raft_addr": "1.2.3.4:5",
    }
    data.update(overrides)
    try:
        parse(json.dumps(data).encode())
    except ConfigError as err:
        assert all("\n" not in p for p in err.problems)


def _load(tmp_path: Path, data: dict[str, Any], env: dict[str, str]) -> ClusterConfig:
    from automation.configfile import load

    path = tmp_path / "cluster-config.json"
    path.write_text(json.dumps(data))
    return load(path, env)


def test_environment_overrides(tmp_path: Path, join_config: dict[str, Any]) -> None:
    env = {"FBA_HEALTH_TIMEOUT_S": "7.5", "FBA_JOIN_MAX_ATTEMPTS": "9", "FBA_JOIN_RETRY_MODE": "fixed"}
    updated = _load(tmp_path, join_config, env)
    assert (
        updated.health.timeout_s == 7.5 and updated.join.max_attempts == 9 and updated.join.retry_mode.value == "fixed"
    )
    assert _load(tmp_path, join_config, {}) == parse(json.dumps(join_config).encode())


def test_environment_overrides_keep_secrets_and_defaults(tmp_path: Path, join_config: dict[str, Any]) -> None:
    """An override once re-validated a dumped copy: notify_token became its mask "**********"
    and every default counted as written by the user."""
    join_config.update(notify_url="https://hook.example/x", notify_token="s3cret", services={"flaredb": {}})
    updated = _load(tmp_path, join_config, {"FBA_JOIN_DEADLINE_S": "60"})
    assert updated.notify_token is not None and updated.notify_token.get_secret_value() == "s3cret"
    assert updated.join.model_fields_set == {"deadline_s"}
    assert updated.services.chainfire.model_fields_set == set()


def test_bad_environment_override_names_the_variable(tmp_path: Path, join_config: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, join_config, {"FBA_JOIN_MAX_ATTEMPTS": "0"})
    assert caught.value.problems == (
        "FBA_JOIN_MAX_ATTEMPTS (join.max_attempts): out of range (at least 1, at most 1000), got 0",
    )
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, join_config, {"FBA_JOIN_DEADLINE_S": "NaN"})
    assert caught.value.problems == ('FBA_JOIN_DEADLINE_S (join.deadline_s): expected a number, got "NaN"',)


@pytest.mark.parametrize(
    ("name", "raw", "where"),
    [
        ("FBA_JOIN_MAX_ATTEMPTS", "\udcff", "byte 0xFF at offset 0"),  # os.environ's form of b"\xff"
        ("FBA_JOIN_RETRY_MODE", "fix\udcffed", "byte 0xFF at offset 3"),
    ],
)
def test_a_non_utf8_environment_override_names_the_variable(
    tmp_path: Path, join_config: dict[str, Any], name: str, raw: str, where: str
) -> None:
    """It was reported as the config file's JSON error ("lone leading surrogate")."""
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, join_config, {name: raw})
    assert caught.value.problems == (f"{name}: not UTF-8 text ({where})",)
    assert "cluster-config.json" not in caught.value.message


def test_misspelt_environment_override_is_an_error(tmp_path: Path, join_config: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, join_config, {"FBA_JOIN_DEADLINE": "60"})
    assert caught.value.problems == (
        "FBA_JOIN_DEADLINE: unknown environment override; did you mean FBA_JOIN_DEADLINE_S?",
    )


@pytest.mark.timeout(10)  # a regression to a blocking open fails here instead of hanging
def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    """Opening a FIFO waits for a writer; the config must be a regular file (a FIFO once hung
    the boot step, then held it 10 s)."""
    from automation import configfile

    fifo = tmp_path / "config.fifo"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="Configuration file is a FIFO, not a regular file"):
        configfile.read_bytes(fifo)


@pytest.mark.parametrize(
    ("make", "phrase"),
    [
        (lambda p: p.mkdir(), "a directory, not a regular file"),
        (lambda p: p.symlink_to("/dev/zero"), "a character device, not a regular file"),
        (lambda p: p.write_bytes(b" " * (1024 * 1024 + 1)), "too large"),
        (lambda p: p.symlink_to(p), "unreadable"),
    ],
    ids=["directory", "dev-zero", "too-large", "symlink-loop"],
)
def test_a_config_that_is_not_a_usable_file_is_one_line(tmp_path: Path, make: Any, phrase: str) -> None:
    from automation import configfile

    path = tmp_path / "config.json"
    make(path)
    with pytest.raises(ConfigError, match=phrase) as caught:
        configfile.read_bytes(path)
    assert "\n" not in caught.value.message


@pytest.mark.parametrize(
    ("name", "meant", "why"),
    [
        ("FBA_join_max_attempts", "FBA_JOIN_MAX_ATTEMPTS", "names are case-sensitive"),
        ("FBA_Config", "FBA_CONFIG", "names are case-sensitive"),
        ("FBA_JION_DEADLINE_S", "FBA_JOIN_DEADLINE_S", "a misspelt override?"),
        ("FBA_HELTH_TIMEOUT_S", "FBA_HEALTH_TIMEOUT_S", "a misspelt override?"),
    ],
)
def test_an_override_misspelt_or_in_another_case_is_an_error(
    tmp_path: Path, join_config: dict[str, Any], name: str, meant: str, why: str
) -> None:
    """Break 7, finding 6: these were a WARN, and the default stayed in charge."""
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, join_config, {name: "9"})
    assert caught.value.problems == (f"{name}: not a variable fba reads ({why}); did you mean {meant}?",)


@pytest.mark.parametrize("name", ["FBA_RUN_DEADLINE", "FBA_NET_MODE", "FBA_STATE_DIRECTORY", "FBA_X"])
def test_other_tools_fba_names_stay_warnings(name: str) -> None:
    """The harness sets its own FBA_* names; they are not misspelt overrides."""
    from automation.configfile import check_environment

    warnings = check_environment({name: "1"})
    assert len(warnings) == 1 and warnings[0].startswith(f"{name}: not a variable fba reads; ignored")


@pytest.mark.parametrize(
    ("name", "raw", "bounds"),
    [
        ("FBA_JOIN_MAX_ATTEMPTS", "99999999999999999999999", "at least 1, at most 1000"),
        ("FBA_JOIN_MAX_ATTEMPTS", "-99999999999999999999999", "at least 1, at most 1000"),
        ("FBA_JOIN_MAX_ATTEMPTS", "1001", "at least 1, at most 1000"),
        ("FBA_JOIN_DEADLINE_S", "9" * 3000, "above 0, at most 86400"),
    ],
)
def test_an_integer_override_out_of_range_says_so_with_its_bounds(
    tmp_path: Path, join_config: dict[str, Any], name: str, raw: str, bounds: str
) -> None:
    """Break 7, finding 6: an integer too large for the JSON reader was "expected an integer"."""
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, join_config, {name: raw})
    (problem,) = caught.value.problems
    assert f": out of range ({bounds}), got {raw[:20]}" in problem, problem


@pytest.mark.parametrize(
    ("change", "said"),
    [
        # break 9 (F19): chainfire's only leader on flaredb's API port validated; the join then
        # dropped it and exited 3 blaming "this node's own API"
        ({"services": {"chainfire": {"leader_url": "https://10.0.1.11:2479"}}}, "services.chainfire.leader_url"),
        ({"leader_url": "https://10.0.1.11:2479"}, "leader_url"),  # as written: chainfire's leader
        ({"services": {"flaredb": {"leader_url": "https://10.0.1.11:2379"}}}, "services.flaredb.leader_url"),
        ({"services": {"chainfire": {"leader_url": "https://10.0.1.11:8080"}}}, "iam's API port"),
        ({"discovery": {"peer_urls": ["https://10.0.1.12:2479"]}}, "discovery.peer_urls[0]"),
        (
            {
                "services": {
                    "chainfire": {"api_port": 3379, "leader_url": "https://10.0.1.11:3379"},
                    "flaredb": {"api_port": 3479, "leader_url": "https://h:3379"},
                }
            },
            "chainfire's API port",
        ),
    ],
)
@pytest.mark.parametrize("bootstrap", [False, True])
def test_a_services_leader_on_another_services_api_port_is_invalid(
    join_config: dict[str, Any], bootstrap_config: dict[str, Any], change: dict[str, Any], said: str, bootstrap: bool
) -> None:
    data = {**(bootstrap_config if bootstrap else join_config), **change}
    found = problems(data)
    assert len(found) == 1 and said in found[0] and "API port" in found[0], found


def test_a_leader_on_a_port_no_service_uses_stays_valid(join_config: dict[str, Any]) -> None:
    join_config["services"] = {"chainfire": {"leader_url": "https://10.0.1.11:12379"}}
    parse(json.dumps(join_config).encode())


# Break 12, K7: a peer list that contradicts itself or this node is refused, one line each.
@pytest.mark.parametrize(
    ("field", "peers", "expected"),
    [
        (
            "initial_peers",
            ["node01=10.0.1.9:2380", "node02=10.0.1.12:2380", "node03=10.0.1.13:2380"],
            'initial_peers[0]: "node01=10.0.1.9:2380" gives this node\'s id node01 another address than its Raft '
            "address 10.0.1.11:2380; fix the entry or raft_addr",
        ),
        (
            "initial_peers",
            ["node09=10.0.1.11:2380", "node02=10.0.1.12:2380", "node03=10.0.1.13:2380"],
            'initial_peers[0]: "node09=10.0.1.11:2380" gives this node\'s Raft address 10.0.1.11:2380 to another '
            "id (node09, this node is node01); fix the entry or node_id",
        ),
        (
            "initial_peers",
            ["node01=10.0.1.11:2380", "node02=10.0.1.12:2380", "node02=10.0.1.13:2380"],
            'initial_peers[2]: "node02=10.0.1.13:2380" names id node02 again (initial_peers[1] is '
            '"node02=10.0.1.12:2380"); each peer once, at one address',
        ),
        (
            "initial_peers",
            ["node01=10.0.1.11:2380", "node02=10.0.1.12:2380", "node03=10.0.1.12:2380"],
            'initial_peers[2]: "node03=10.0.1.12:2380" names address 10.0.1.12:2380 again (initial_peers[1] is '
            '"node02=10.0.1.12:2380"); each peer once, at one address',
        ),
        (
            "initial_peers",
            ["node01=10.0.1.11:2380", "node02=10.0.1.12:2380", "node02=10.0.1.12:2380"],
            'initial_peers[2]: "node02=10.0.1.12:2380" is given twice (initial_peers[1]); each peer once',
        ),
        (
            "initial_peers",
            ["10.0.1.11:2380", "10.0.1.12:2380", "10.0.1.12:2380"],
            'initial_peers[2]: "10.0.1.12:2380" is given twice (initial_peers[1]); each peer once',
        ),
        (
            "initial_peers",
            ["node01:2380", "10.0.1.11:2380", "node02:2380"],
            'initial_peers[1]: "10.0.1.11:2380" is this node again (initial_peers[0] is "node01:2380"); list it once',
        ),
        (
            "flaredb_peers",
            ["node01=10.0.1.9:2480", "node02=10.0.1.12:2480"],
            'flaredb_peers[0]: "node01=10.0.1.9:2480" gives this node\'s id node01 another address than its Raft '
            "address 10.0.1.11:2480; fix the entry or raft_addr",
        ),
        (
            "flaredb_peers",
            ["node01:2480", "node02=10.0.1.12:2480", "node03=10.0.1.12:2480"],
            'flaredb_peers[2]: "node03=10.0.1.12:2480" names address 10.0.1.12:2480 again (flaredb_peers[1] is '
            '"node02=10.0.1.12:2480"); each peer once, at one address',
        ),
        (
            "flaredb_peers",
            ["node02:2480", "node03:2480"],
            "flaredb_peers: a bootstrap node must list itself (node01 or 10.0.1.11:2480)",
        ),
    ],
)
def test_a_peer_list_that_contradicts_itself_or_this_node_is_refused(
    bootstrap_config: dict[str, Any], field: str, peers: list[str], expected: str
) -> None:
    bootstrap_config[field] = peers
    assert problems(bootstrap_config) == (expected,)


def test_a_joining_nodes_peer_list_is_judged_too(join_config: dict[str, Any]) -> None:
    join_config["initial_peers"] = ["node01=10.0.1.11:2380", "node04=10.0.1.99:2380"]
    assert problems(join_config) == (
        'initial_peers[1]: "node04=10.0.1.99:2380" gives this node\'s id node04 another address than its Raft '
        "address 10.0.1.13:2380; fix the entry or raft_addr",
    )


@pytest.mark.parametrize(
    "peers",
    [
        ["node01=10.0.1.11:2380", "node02=10.0.1.12:2380", "node03=10.0.1.13:2380"],
        ["node01:2380", "node02:2380", "node03:2380"],
        ["10.0.1.11:2380", "node02=10.0.1.12:2380", "10.0.1.13:2380"],
    ],
)
def test_a_consistent_peer_list_validates(bootstrap_config: dict[str, Any], peers: list[str]) -> None:
    bootstrap_config["initial_peers"] = peers
    bootstrap_config["flaredb_peers"] = [p.replace(":2380", ":2480") for p in peers]
    parse(json.dumps(bootstrap_config).encode())
