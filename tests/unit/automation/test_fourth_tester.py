"""Found by a fourth tester (break 9), at the unit tier: a host name IDNA cannot encode is no
usable URL (and never an exit 70), a per-service Raft port never falls back to another
service's, and a leader URL's path is refused rather than silently dropped."""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest

from automation.configfile import parse
from automation.discovery import leader_hint
from automation.errors import ConfigError
from automation.http import HttpClient, Response, TransportError
from automation.log import Logger
from automation.spec.causes import Cause
from automation.spec.config import TlsConfig, json_schema
from automation.spec.markers import Service
from automation.spec.urls import url_problem

UNENCODABLE = ["a" * 64, "a..b", ".a", "\x80"]


def problems(data: dict[str, Any]) -> tuple[str, ...]:
    with pytest.raises(ConfigError) as caught:
        parse(json.dumps(data).encode())
    return caught.value.problems


# F3: a host name IDNA cannot encode ------------------------------------------------------------


@pytest.mark.parametrize("host", UNENCODABLE)
def test_a_host_idna_cannot_encode_is_no_usable_url(host: str) -> None:
    problem = url_problem(f"http://{host}:2379")
    assert problem is not None
    assert "host name" in problem


@pytest.mark.parametrize(
    "host", ["node01.example.com", "node01.example.com.", "b\u00fccher.example", "[::1]", "a" * 63]
)
def test_a_host_idna_can_encode_is_still_usable(host: str) -> None:
    assert url_problem(f"http://{host}:2379") is None


@pytest.mark.parametrize(
    "change",
    [
        {"leader_url": "https://" + "a" * 64 + ":2379"},
        {"services": {"flaredb": {"leader_url": "https://a..b:2479"}}},
        {"discovery": {"peer_urls": ["https://.a:2379"]}},
        {"notify_url": "https://\x80/hook"},
    ],
)
def test_a_config_url_whose_host_idna_cannot_encode_is_refused(
    join_config: dict[str, Any], change: dict[str, Any]
) -> None:
    join_config.update(change)
    (problem,) = problems(join_config)
    assert "host name" in problem


@pytest.mark.parametrize("host", UNENCODABLE)
@pytest.mark.parametrize("how", ["list", "307", "421"])
def test_a_hint_naming_such_a_host_is_no_hint(host: str, how: str) -> None:
    bad = f"http://{host}:2379"
    if how == "list":
        reply = Response(200, {}, json.dumps({"members": [], "leader": {"api_url": bad}}).encode(), "http://x:2379")
    elif how == "307":
        reply = Response(307, {"location": bad + "/admin/members"}, b"", "http://x:2379")
    else:
        reply = Response(421, {"x-leader-url": bad}, b"", "http://x:2379")
    assert leader_hint(reply) is None


@pytest.mark.parametrize("where", ["getaddrinfo", "wrap_socket"])
def test_a_unicode_error_below_http_is_a_transport_error(monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    """Whatever the URL check lets through, a UnicodeError from resolving or connecting (the
    `idna` codec of getaddrinfo and of TLS's server_hostname) is a failed request, never exit 70."""

    def refuses(*args: Any, **kwargs: Any) -> Any:
        raise UnicodeError("encoding with 'idna' codec failed (UnicodeError: label too long)")

    if where == "getaddrinfo":
        monkeypatch.setattr(socket, "getaddrinfo", refuses)
    else:
        import ssl

        monkeypatch.setattr(ssl.SSLContext, "wrap_socket", refuses)
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        monkeypatch.setattr(
            socket, "getaddrinfo", lambda *a, **k: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", server.getsockname())]
        )
    client = HttpClient(TlsConfig(insecure_skip_verify=True), Logger())
    scheme = "http" if where == "getaddrinfo" else "https"
    with pytest.raises(TransportError) as caught:
        client.request("GET", f"{scheme}://leader.example:2379/admin/members", timeout=2.0)
    assert caught.value.cause is Cause.UNUSABLE_URL
    assert "host name" in str(caught.value)


# F9: services.flaredb.raft_port: null ----------------------------------------------------------


def test_a_null_flaredb_raft_port_is_a_config_error(join_config: dict[str, Any]) -> None:
    join_config["services"] = {"flaredb": {"raft_port": None}}
    (problem,) = problems(join_config)
    assert problem.startswith("services.flaredb.raft_port:")


def test_flaredb_never_registers_chainfires_raft_port(join_config: dict[str, Any]) -> None:
    join_config["services"] = {"flaredb": {"api_port": 2479}}
    config = parse(json.dumps(join_config).encode())
    assert config.service_raft_addr(Service.FLAREDB) == config.host + ":2480"
    assert config.service_raft_addr(Service.FLAREDB) != config.service_raft_addr(Service.CHAINFIRE)


def test_the_schema_says_flaredbs_raft_port_is_a_port_not_null() -> None:
    field = json_schema()["definitions"]["FlaredbEndpoint"]["properties"]["raft_port"]
    assert field.get("type") == "integer", field
    assert "anyOf" not in field


def test_a_null_chainfire_raft_port_is_no_warning(join_config: dict[str, Any]) -> None:
    """chainfire's raft_port is unused (raft_addr carries it): null says nothing to warn about."""
    join_config["services"] = {"chainfire": {"raft_port": None}}
    assert parse(json.dumps(join_config).encode()).warnings() == []


# F15: a path in a leader URL -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"leader_url": "https://lb.example:2379/chainfire"}, "leader_url"),
        ({"leader_url": "https://lb.example/chainfire"}, "leader_url"),
        ({"leader_url": "https://lb.example:2379?x=1"}, "leader_url"),
        ({"services": {"chainfire": {"leader_url": "https://lb.example:2379/cf/"}}}, "services.chainfire.leader_url"),
        ({"services": {"flaredb": {"leader_url": "https://lb.example:2479/fdb"}}}, "services.flaredb.leader_url"),
        ({"discovery": {"peer_urls": ["https://lb.example:2379/chainfire"]}}, "discovery.peer_urls[0]"),
    ],
)
def test_a_path_in_a_leader_url_is_refused_naming_the_field(
    join_config: dict[str, Any], change: dict[str, Any], field: str
) -> None:
    join_config.update(change)
    (problem,) = problems(join_config)
    assert problem.startswith(f"{field}: ")
    assert "path" in problem


@pytest.mark.parametrize("url", ["https://node01.example.com:2379/", "https://node01.example.com:2379"])
def test_a_leader_url_without_a_path_still_validates(join_config: dict[str, Any], url: str) -> None:
    join_config["leader_url"] = url
    join_config["discovery"] = {"peer_urls": [url]}
    assert parse(json.dumps(join_config).encode()).leader_url_for(Service.CHAINFIRE) == url.rstrip("/")


def test_a_webhook_keeps_its_path(join_config: dict[str, Any]) -> None:
    join_config["notify_url"] = "https://hooks.example/fba/summary"
    assert parse(json.dumps(join_config).encode()).notify_url == "https://hooks.example/fba/summary"
