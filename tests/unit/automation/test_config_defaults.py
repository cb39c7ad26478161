"""Defaults per field: a section given with some fields takes every other field from the
default the README's generated table shows (a partial `services.flaredb` section once took
chainfire's Raft port), and what the user wrote is used as written."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from automation.configfile import parse
from automation.errors import ConfigError
from automation.render import config_reference_markdown
from automation.spec.config import ClusterConfig
from automation.spec.markers import Service

BASE: dict[str, Any] = {
    "node_id": "node04",
    "node_role": "worker",
    "bootstrap": False,
    "cluster_name": "example",
    "leader_url": "http://node01",  # no port: any chainfire api_port agrees with it
    "raft_addr": "10.0.1.13:2380",
}


def _table() -> dict[str, Any]:
    """key -> default, read from the README's generated config table."""
    out: dict[str, Any] = {}
    for row in config_reference_markdown().splitlines()[2:]:
        cells = [c.strip() for c in row.strip("|").split("|")]
        key, default = cells[0].strip("`"), cells[2]
        if default.startswith("`"):
            out[key] = json.loads(default.strip("`"))
    return out


TABLE = _table()


def _sections(model: type[BaseModel], prefix: str = "") -> list[tuple[str, type[BaseModel]]]:
    out = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            out.append((prefix + name, annotation))
            out += _sections(annotation, prefix + name + ".")
    return out


SECTIONS = [(path, model) for path, model in _sections(ClusterConfig) if path != "services"]


def _at(config: BaseModel, path: str) -> BaseModel:
    for part in path.split("."):
        config = getattr(config, part)
    return config


@pytest.mark.parametrize(("path", "model"), SECTIONS, ids=[p for p, _ in SECTIONS])
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_every_field_left_out_takes_the_tables_default(path: str, model: type[BaseModel], data: st.DataObject) -> None:
    names = list(model.model_fields)
    given_names = data.draw(st.sets(st.sampled_from(names)), label="given")
    section: dict[str, Any] = {}
    # Two listeners of this node on one port are an error (break 10, G6): a drawn port is one no
    # other listener uses, by default or as drawn.
    taken = {2379, 2380, 2479, 2480, 8080}
    for name in given_names:
        key = f"{path}.{name}"
        if name.endswith("_port"):
            section[name] = data.draw(st.integers(1024, 65535).filter(lambda p: p not in taken), label=key)
            taken.add(section[name])
        else:
            section[name] = TABLE[key]
    document: dict[str, Any] = json.loads(json.dumps(BASE))
    target = document
    for part in path.split(".")[:-1]:
        target = target.setdefault(part, {})
    target[path.split(".")[-1]] = section
    config = parse(json.dumps(document).encode())
    for name in names:
        if name not in given_names:
            value = getattr(_at(config, path), name)
            assert getattr(value, "value", value) == TABLE[f"{path}.{name}"], f"{path}.{name}"
        else:
            value = getattr(_at(config, path), name)
            assert getattr(value, "value", value) == section[name], f"{path}.{name} was not used as written"


def _config(**changes: Any) -> ClusterConfig:
    return parse(json.dumps({**BASE, **changes}).encode())


def test_partial_flaredb_section_keeps_flaredbs_raft_port() -> None:
    config = _config(services={"flaredb": {"api_port": 2999}})
    assert config.service_raft_addr(Service.FLAREDB) == "10.0.1.13:2480"
    assert config.leader_url_for(Service.FLAREDB) == "http://node01:2999"


@pytest.mark.parametrize(
    ("changes", "chainfire", "flaredb", "iam"),
    [
        # the field means "chainfire API of the leader": used as written, never re-ported
        ({"leader_url": "http://node01:2381"}, "http://node01:2381", "http://node01:2479", "http://node01:8080"),
        ({"leader_url": "http://node01:2381/"}, "http://node01:2381", "http://node01:2479", "http://node01:8080"),
        # no port: chainfire's api_port (a path is refused: test_fourth_tester)
        (
            {"leader_url": "https://lb.example"},
            "https://lb.example:2379", "https://lb.example:2479", "https://lb.example:8080",
        ),
        (
            {"leader_url": "http://node01:2381", "services": {"chainfire": {"api_port": 2381}}},
            "http://node01:2381", "http://node01:2479", "http://node01:8080",
        ),
        (
            {"leader_url": "http://node01:2381", "services": {"chainfire": {"leader_url": "http://lb:9"}}},
            "http://lb:9", "http://node01:2479", "http://node01:8080",
        ),
    ],
)  # fmt: skip
def test_leader_url_is_used_as_written(changes: dict[str, Any], chainfire: str, flaredb: str, iam: str) -> None:
    config = _config(**changes)
    assert config.leader_url_for(Service.CHAINFIRE) == chainfire
    assert config.leader_url_for(Service.FLAREDB) == flaredb
    assert config.leader_url_for(Service.IAM) == iam


def test_leader_url_port_contradicting_an_explicit_api_port_is_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        _config(leader_url="http://node01:2381", services={"chainfire": {"api_port": 2379}})
    assert caught.value.problems == (
        "leader_url: its port 2381 contradicts services.chainfire.api_port 2379; leader_url is the leader's "
        "chainfire API: make the ports agree, or set services.chainfire.leader_url when the leader's API "
        "really listens elsewhere",
    )


def test_chainfire_raft_port_differing_from_raft_addr_is_warned_not_used() -> None:
    config = _config(services={"chainfire": {"raft_port": 2390}})
    assert config.service_raft_addr(Service.CHAINFIRE) == "10.0.1.13:2380"
    assert config.warnings() == [
        "services.chainfire.raft_port 2390 differs from raft_addr 10.0.1.13:2380; chainfire registers raft_addr "
        "as written (drop services.chainfire.raft_port or make them agree)"
    ]
    assert _config().warnings() == []


@pytest.mark.parametrize(
    ("changes", "service", "urls"),
    [
        ({"initial_peers": ["node01:2380", "node02=10.0.1.12:2390"]}, Service.CHAINFIRE, ["http://node01:2379", "http://10.0.1.12:2379"]),
        ({"initial_peers": ["node01:2380"]}, Service.FLAREDB, ["http://node01:2479"]),
        ({"initial_peers": ["node01:2380"], "flaredb_peers": ["10.0.1.21:2480"]}, Service.FLAREDB, ["http://10.0.1.21:2479"]),
        ({"initial_peers": ["node01:2380"], "services": {"flaredb": {"api_port": 3000}}}, Service.FLAREDB, ["http://node01:3000"]),
    ],
)  # fmt: skip
def test_peer_api_urls_use_each_services_own_api_port(
    changes: dict[str, Any], service: Service, urls: list[str]
) -> None:
    """initial_peers name Raft addresses: a peer's API URL is its host with the service's api_port,
    never the Raft port written in the peer."""
    assert _config(**changes).peer_api_urls(service) == urls
