"""Found by a fourth tester (break 9), at the process tier: a host name IDNA cannot encode,
named by a peer or written in the config, never ends a step with exit 70; a null flaredb Raft
port and a leader URL with a path are configuration errors, never a wrong registration or a
silently dropped path."""

from __future__ import annotations

import pytest

from automation.spec.exitcodes import ExitCode

from .conftest import Fba, Node
from .expect import markers_in
from .fakes_join import HINT_WAYS, hint_leader_at
from .reports import healthy_node, summary_of

JOIN = ("join", "--service", "chainfire")
LONG = "a" * 64


@pytest.mark.parametrize("host", [LONG, "a..b"])
@pytest.mark.parametrize("how", HINT_WAYS)
def test_a_peer_naming_a_host_idna_cannot_encode_is_no_hint(fba: Fba, node: Node, host: str, how: str) -> None:
    leader = node.leader()
    bad = f"http://{host}:{node.chainfire.port}"
    hint_leader_at(leader, node.clusters["chainfire"].view(), how, bad)
    fba.write_config(node.config(join={"deadline_s": 2}))

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.FAILED, result.describe()
    assert "internal error" not in result.stderr + result.stdout
    assert markers_in(fba.state_dir) == []


def test_a_member_api_url_idna_cannot_encode_is_a_failed_probe(fba: Fba, node: Node) -> None:
    healthy_node(node)
    node.clusters["chainfire"].add_member("node09", "127.0.0.1:2389", f"http://{LONG}:2379")
    fba.write_config(node.config(initial_peers=["127.0.0.2:2380"]))

    result = fba.run("health-report")

    assert result.rc == ExitCode.UNHEALTHY, result.describe()
    assert "stale-member:chainfire:node09" in summary_of(result)["failed"]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"leader_url": f"http://{LONG}:2379"}, "leader_url"),
        ({"discovery": {"peer_urls": ["http://a..b:2379"]}}, "discovery.peer_urls[0]"),
        ({"notify_url": "http://.a/hook"}, "notify_url"),
        ({"services": {"flaredb": {"raft_port": None}}}, "services.flaredb.raft_port"),
        ({"leader_url": "http://127.0.0.9:2379/chainfire"}, "leader_url"),
        (
            {"services": {"chainfire": {"leader_url": "http://127.0.0.9:2379/chainfire"}}},
            "services.chainfire.leader_url",
        ),
        ({"discovery": {"peer_urls": ["http://127.0.0.9:2379/chainfire"]}}, "discovery.peer_urls[0]"),
    ],
)
def test_such_a_config_is_refused_by_validate_and_by_the_join(
    fba: Fba, node: Node, overrides: dict[str, object], field: str
) -> None:
    config = node.config()
    for key, value in overrides.items():
        if key == "services":
            assert isinstance(value, dict)
            for service, fields in value.items():
                config["services"][service].update(fields)
        else:
            config[key] = value
    fba.write_config(config)

    validate = fba.run("config", "validate")
    join = fba.run("join", "--service", "flaredb" if "flaredb" in field else "chainfire")

    assert validate.rc == ExitCode.CONFIG_INVALID, validate.describe()
    assert f"{field}: " in validate.stdout
    assert join.rc == ExitCode.INVALID, join.describe()
    assert "internal error" not in join.stderr + join.stdout
    assert markers_in(fba.state_dir) == []
