"""`cluster-config.json`: the design's schema as a strict pydantic model, plus our extensions.

Required fields and their meaning are the design's appendix. Everything we add has a default,
so a config written for the design validates unchanged. Strict: `"bootstrap": "true"` is an
error, not a truthy string, and unknown keys are errors (a misspelt `leader_ur1` must not
silently fall back to a default).
"""

from __future__ import annotations

import ipaddress
import posixpath
import re
from enum import StrEnum
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, model_validator

from automation.spec.commands import MAX_SECONDS
from automation.spec.markers import NODE_ID_PATTERN, Service, is_node_id
from automation.spec.urls import (
    credential_free,
    header_value_problem,
    host_key,
    is_unspecified,
    names_us,
    port_problem,
    redacted,
    url_credentials,
    url_problem,
)

_HOST_RE = re.compile(
    r"^(?=.{1,253}\Z)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
_NODE_ID_RE = NODE_ID_PATTERN
SECRET_LOOK_MIN = 16  # shorter text is not taken for a token (`may_be_secret`)


def _quote(value: object) -> str:
    """A refused value as a config error shows it: quoted, cut at 60 characters, escaped to one
    line; or only described when it looks like a secret (`may_be_secret`): a token pasted into
    the wrong field was echoed into `config validate` and the journal of every unit (break 12,
    K5)."""
    text = value if isinstance(value, str) else repr(value)
    if may_be_secret(text):
        return f"a {len(text)}-character value (not quoted: it may be a secret)"
    text = text if len(text) <= 60 else text[:57] + "..."
    return '"' + text.encode("unicode_escape").decode("ascii").replace('"', '\\"') + '"'


def may_be_secret(text: str) -> bool:
    """Whether `text` has the look of a token or key: at least `SECRET_LOOK_MIN` characters
    without spaces that mix upper case, lower case and digits (base64, base64url, random
    passwords), or hex of at least 20 digits with letters (API keys, digests). Hostnames, paths,
    addresses and words do not look so; those that do are only described, never quoted."""
    if len(text) < SECRET_LOOK_MIN or any(c.isspace() for c in text):
        return False
    mixed = any(c.islower() for c in text) and any(c.isupper() for c in text) and any(c.isdigit() for c in text)
    hexadecimal = len(text) >= 20 and all(c in "0123456789abcdefABCDEF" for c in text)
    return mixed or hexadecimal and any(c.isdigit() for c in text) and any(c.isalpha() for c in text)


def _split_port(value: str, what: str) -> tuple[str, int]:
    host, sep, port_text = value.rpartition(":")
    if not sep or not host:
        raise ValueError(f"expected {what}, got {_quote(value)}")
    problem = port_problem(port_text)
    if problem is not None:
        raise ValueError(f"expected {what} with {problem}, got {_quote(value)}")
    return host, int(port_text)


def _ipv4_port(value: str) -> str:
    host, _ = _split_port(value, "IPv4:port")
    try:
        address = ipaddress.IPv4Address(host)
    except ValueError:
        raise ValueError(f"expected IPv4:port, got {_quote(value)}") from None
    if address.is_unspecified or address.is_multicast or address == ipaddress.IPv4Address("255.255.255.255"):
        # A Raft address is where the other members reach this node: a bind-all or group
        # address would be registered as this member's, and no peer could ever reach it.
        raise ValueError(f"expected this node's own IPv4 address, got {_quote(value)} (not reachable by peers)")
    return value


def _host_port(value: str) -> str:
    host, _ = _split_port(value, "host:port")
    if not _HOST_RE.fullmatch(host):  # fullmatch: `$` would let a final newline through
        raise ValueError(f"expected host:port, got {_quote(value)}")
    return value


def _peer(value: str) -> str:
    """`host:port` (the design's form; the id is the host) or `id=host:port` (etcd's form)."""
    peer_id, sep, addr = value.partition("=")
    if sep:
        if not is_node_id(peer_id):
            raise ValueError(f"expected id=host:port with a valid node id, got {_quote(value)}")
        _host_port(addr)
    else:
        _host_port(value)
    return value


def _http_url(value: str) -> str:
    problem = url_problem(value)
    if problem is not None:
        why = "" if problem.startswith("not an http") else f" ({problem})"  # said by "expected" already
        raise ValueError(f"expected an http:// or https:// URL, got {_quote(redacted(value))}{why}")
    return value


def _webhook_url(value: str) -> str:
    """`notify_url`: any http(s) URL. A webhook's path or query is often its credential (Slack,
    Discord, Teams), so an error shows it as `scheme://host:port/...` (break 12, K4)."""
    problem = url_problem(value)
    if problem is not None:
        why = "" if problem.startswith("not an http") else f" ({problem})"
        raise ValueError(f"expected an http:// or https:// URL, got {_quote(credential_free(value))}{why}")
    return value


def _base_url(value: str) -> str:
    """A leader's or peer's API base URL: scheme, host and port, nothing after (a final `/` is
    allowed). fba asks `/admin/...` and the health path at the host's root, so a path (a leader
    behind a path-routing proxy, `http://lb:2379/chainfire`), query or fragment validated and
    was then silently dropped: the requests went to the root of another service."""
    _http_url(value)
    parts = urlsplit(value)
    found = {"a path": parts.path not in ("", "/"), "a query": "?" in value, "a fragment": "#" in value}
    extra = [what for what, there in found.items() if there]
    if extra:
        raise ValueError(
            f"expected an API base URL (scheme://host:port) without {' or '.join(extra)}, got "
            f"{_quote(credential_free(value))}; fba asks /admin/... and the health path at the host's root"
        )
    return value


def _file_path(value: str) -> str:
    """A file or directory on this node: absolute (under systemd the working directory is `/`,
    so a relative path means something else there than in a shell) and never empty (`""` is
    the current directory: an unset variable in a generated config)."""
    if not value:
        raise ValueError("expected an absolute path, got an empty one")
    # The refused value is described, not quoted: path fields sit next to secrets
    # (`bootstrap_token_path`, `node_key_path`), and the secret pasted into its file's field was
    # echoed by every command that loads the config (break 12, K5).
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise ValueError(f"expected an absolute path without control characters, got {_described(value)}")
    if not value.startswith("/"):
        raise ValueError(f"expected an absolute path (starting with /), got {_described(value)}")
    return value


def _described(value: str) -> str:
    return f"a {len(value)}-character value that is not one (not quoted: it may be a secret)"


def _url_path(value: str) -> str:
    """A path on a service's API, appended to its base URL: it must start with `/` (`health`
    made `http://127.0.0.4:2379health`, polled until the health budget ran out, restart after
    restart), and be one path: no query, fragment, space or control character."""
    if not value.startswith("/"):
        raise ValueError(f"expected a URL path starting with /, got {_quote(value)}")
    if any(ord(c) <= 0x20 or ord(c) >= 0x7F or c in "?#\\" for c in value):
        raise ValueError(f"expected a URL path of printable ASCII without ?, #, \\ or spaces, got {_quote(value)}")
    return value


def _sendable_secret(value: SecretStr) -> SecretStr:
    """A token that can go into a header; the error never repeats it."""
    problem = header_value_problem(value.get_secret_value())
    if problem is not None:
        raise ValueError(f"cannot be sent as a bearer token: {problem}")
    return value


RaftAddr = Annotated[str, AfterValidator(_ipv4_port), Field(json_schema_extra={"pattern": r"^[0-9.]+:[0-9]+$"})]
Peer = Annotated[str, AfterValidator(_peer)]
WebhookUrl = Annotated[str, AfterValidator(_webhook_url), Field(json_schema_extra={"format": "uri"})]
BaseUrl = Annotated[str, AfterValidator(_base_url), Field(json_schema_extra={"format": "uri"})]
Port = Annotated[int, Field(ge=1, le=65535)]
FilePath = Annotated[str, AfterValidator(_file_path), Field(json_schema_extra={"pattern": "^/"})]
UrlPath = Annotated[str, AfterValidator(_url_path), Field(json_schema_extra={"pattern": "^/"})]
PositiveSeconds = Annotated[float, Field(gt=0, le=MAX_SECONDS)]


class NodeRole(StrEnum):
    CONTROL_PLANE = "control-plane"
    WORKER = "worker"
    ALL_IN_ONE = "all-in-one"


class RetryMode(StrEnum):
    EXPONENTIAL = "exponential"  # jittered, doubling from retry_delay_s up to max_retry_delay_s
    FIXED = "fixed"  # the design's original: retry_delay_s between attempts, no jitter


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)


class TlsConfig(_Strict):
    enabled: bool = Field(default=False, description="Use https:// everywhere; verify peers against ca_cert_path.")
    ca_cert_path: FilePath | None = Field(default=None, description="CA bundle that signs the cluster's certificates.")
    node_cert_path: FilePath | None = Field(
        default=None, description="Client certificate for mTLS (with node_key_path)."
    )
    node_key_path: FilePath | None = Field(
        default=None, description="Private key for mTLS; refused (exit 3) if others may read it, WARN if its group may."
    )
    insecure_skip_verify: bool = Field(
        default=False,
        description="The design's `curl -k`. Off by default; every request that skips verification logs a WARN.",
    )

    @model_validator(mode="after")
    def _paths_when_enabled(self) -> TlsConfig:
        if self.enabled and not self.ca_cert_path and not self.insecure_skip_verify:
            raise ValueError("tls.enabled needs ca_cert_path (or insecure_skip_verify: true)")
        if bool(self.node_cert_path) != bool(self.node_key_path):
            raise ValueError("node_cert_path and node_key_path go together (mTLS needs both)")
        return self


class ServiceEndpoint(_Strict):
    """One service's ports and paths. Each service has its own class so that a section that
    gives only some fields takes every other field from THAT service's defaults (a partial
    `flaredb` section once fell back to a generic endpoint, and flaredb registered chainfire's
    Raft port)."""

    api_port: Port = Field(description="HTTP(S) API port (health, admin, member add).")
    raft_port: Port | None = Field(default=None, description="Raft port.")
    health_path: UrlPath = Field(
        default="/health", description="Path of the health endpoint (starts with /); 200 means healthy."
    )
    leader_url: BaseUrl | None = Field(
        default=None,
        description="This service's leader API base URL (no path); default: leader_url's host with this api_port.",
    )


class ChainfireEndpoint(ServiceEndpoint):
    api_port: Port = Field(default=2379, description="HTTP(S) API port (health, admin, member add).")
    raft_port: Port | None = Field(
        default=2380,
        description="Unused for chainfire: raft_addr carries its Raft port (a different value here is warned about).",
    )
    leader_url: BaseUrl | None = Field(
        default=None,
        description="chainfire's leader API base URL (no path); default: the top-level leader_url as written "
        "(with this api_port only when that URL names no port).",
    )


class FlaredbEndpoint(ServiceEndpoint):
    api_port: Port = Field(default=2479, description="HTTP(S) API port (health, admin, member add).")
    # Not optional: null once validated and then fell back to raft_addr, chainfire's Raft
    # port, which flaredb registered as its own (a member no flaredb ever answers at).
    raft_port: Port = Field(
        default=2480, description="flaredb's Raft port; flaredb registers raft_addr's host with it (null is an error)."
    )


class IamEndpoint(ServiceEndpoint):
    api_port: Port = Field(default=8080, description="HTTP(S) API port (health, token and user API).")
    raft_port: Port | None = Field(default=None, description="Unused (IAM has no Raft of its own).")


class ServicesConfig(_Strict):
    chainfire: ChainfireEndpoint = Field(default_factory=ChainfireEndpoint)
    flaredb: FlaredbEndpoint = Field(default_factory=FlaredbEndpoint)
    iam: IamEndpoint = Field(default_factory=IamEndpoint)


class HealthConfig(_Strict):
    timeout_s: PositiveSeconds = Field(
        default=120.0, description="Budget for a local service to turn healthy (design: 120 s)."
    )
    max_elapsed_s: PositiveSeconds = Field(default=300.0, description="The design's overall cap; see join.deadline_s.")
    initial_interval_s: PositiveSeconds = Field(default=0.1, description="First poll interval; doubles with jitter.")
    max_interval_s: PositiveSeconds = Field(
        default=5.0, description="Poll interval cap (the design polled every 5 s flat)."
    )
    request_timeout_s: PositiveSeconds = Field(default=5.0, description="Per-request timeout, capped by what is left.")


class JoinConfig(_Strict):
    max_attempts: Annotated[
        int,
        Field(
            ge=1,
            le=1000,
            description="Failed attempts before exit 1 (design: 5). Waits for quorum or a busy leader do not count.",
        ),
    ] = 5
    retry_mode: RetryMode = Field(
        default=RetryMode.EXPONENTIAL, description="exponential (jittered) or fixed (the design's)."
    )
    retry_delay_s: PositiveSeconds = Field(
        default=1.0, description="First delay (exponential) or every delay (fixed; design: 10)."
    )
    max_retry_delay_s: PositiveSeconds = Field(
        default=16.0, description="Exponential delay cap (design's plan: 1, 2, 4, 8, 16 s)."
    )
    deadline_s: PositiveSeconds = Field(
        default=300.0, description="Wall-clock budget of the whole join (design: 300 s)."
    )
    request_timeout_s: PositiveSeconds = Field(default=10.0, description="Per-request timeout, capped by what is left.")


class DiscoveryConfig(_Strict):
    dns_srv: bool = Field(default=False, description="Also try DNS SRV _<service>._tcp.<cluster_name>.")
    peer_urls: list[BaseUrl] = Field(
        default_factory=list, description="Extra API base URLs (no path) to ask for the leader."
    )


class IamConfig(_Strict):
    admin_user: Annotated[str, Field(pattern=_NODE_ID_RE, description="The cluster's one admin user.")] = "admin"
    credentials_path: FilePath = Field(
        default="/etc/nixos/secrets/iam-admin.json",
        description="Written 0600, atomically; refused if others may read it; never replaced when unparsable.",
    )
    bootstrap_token_path: FilePath = Field(
        default="/etc/nixos/secrets/iam-bootstrap-token",
        description="Shared bootstrap token IAM accepts; refused if others may read it, WARN if its group may.",
    )
    token_ttl_s: Annotated[int, Field(ge=60, le=31_536_000, description="Lifetime of this node's token.")] = 86400


class PreflightConfig(_Strict):
    min_disk_mb: Annotated[int, Field(ge=0)] = 512
    min_memory_mb: Annotated[int, Field(ge=0)] = 256
    min_cpus: Annotated[int, Field(ge=1)] = 1
    disk_path: FilePath = "/var/lib"
    cert_min_valid_days: Annotated[int, Field(ge=0)] = 1


class ClusterConfig(_Strict):
    """The node's `cluster-config.json`."""

    schema_ref: str | None = Field(default=None, alias="$schema")
    node_id: Annotated[str, Field(pattern=_NODE_ID_RE, description="Unique node identifier")]
    node_role: NodeRole = Field(description="control-plane, worker or all-in-one")
    bootstrap: bool = Field(description="True for the first 3 nodes, false to join")
    cluster_name: Annotated[
        str,
        Field(
            min_length=1, max_length=253, pattern=r"^[A-Za-z0-9][A-Za-z0-9.-]*$", description="Also the DNS SRV domain."
        ),
    ]
    leader_url: BaseUrl = Field(
        description="chainfire API of the leader to join (scheme://host[:port], no path: refused), used as "
        "written; flaredb's and IAM's take its host with their api_port. The first discovery candidate."
    )
    raft_addr: RaftAddr = Field(description="This node's chainfire Raft address, IPv4:port.")
    initial_peers: list[Peer] = Field(
        default_factory=list,
        description="Bootstrap peers, host:port or id=host:port; also leader-discovery candidates.",
    )
    flaredb_peers: list[Peer] = Field(default_factory=list, description="flaredb's peers, when they differ.")
    tls: TlsConfig = Field(default_factory=TlsConfig)
    services: ServicesConfig = Field(default_factory=ServicesConfig)
    health: HealthConfig = Field(default_factory=HealthConfig)
    join: JoinConfig = Field(default_factory=JoinConfig)
    discovery: DiscoveryConfig = Field(default_factory=DiscoveryConfig)
    iam: IamConfig = Field(default_factory=IamConfig)
    preflight: PreflightConfig = Field(default_factory=PreflightConfig)
    notify_url: WebhookUrl | None = Field(
        default=None,
        description="Webhook for the health summary. Logs show it as scheme://host:port/... (its path and query "
        "can be its credential).",
    )
    notify_token: Annotated[SecretStr, AfterValidator(_sendable_secret)] | None = Field(
        default=None, description="Bearer token for notify_url."
    )
    notify_attempts: Annotated[int, Field(ge=1, le=20)] = 3
    prometheus_textfile: FilePath | None = Field(
        default=None, description="Write health metrics here (node_exporter textfile collector)."
    )

    def log_secrets(self) -> list[str | SecretStr]:
        """What the log's redactor must mask: `notify_token`, and the parts of `notify_url` that
        can be a webhook's credential (its path and query: Slack, Discord, Teams; break 12, K4)."""
        found: list[str | SecretStr] = [self.notify_token] if self.notify_token is not None else []
        return found + (url_credentials(self.notify_url) if self.notify_url else [])

    @model_validator(mode="after")
    def _cross_field(self) -> ClusterConfig:
        for field, peers, service in self._peer_lists():
            problem = self._peer_list_problem(field, peers, service)
            if problem:
                raise ValueError(problem)
            if self.bootstrap and peers and not self._lists_self(peers, service):
                own = self.service_raft_addr(service)
                raise ValueError(f"{field}: a bootstrap node must list itself ({self.node_id} or {own})")
        if self.bootstrap and not self.initial_peers:
            raise ValueError(f"initial_peers: a bootstrap node must list itself ({self.node_id} or {self.raft_addr})")
        if self.tls.enabled:
            for name, url in self._urls():
                if urlsplit(url).scheme != "https":
                    raise ValueError(f"{name}: expected an https:// URL because tls.enabled is true, got {_quote(url)}")
            if self.notify_token is not None and self.notify_url and urlsplit(self.notify_url).scheme != "https":
                # The webhook is not a cluster peer (it may not share our CA), but its bearer
                # token must not cross the wire in clear text on a cluster that asked for TLS.
                raise ValueError(
                    "notify_url: expected an https:// URL because tls.enabled is true and notify_token is set "
                    f"(the token would be sent in clear text), got {_quote(credential_free(self.notify_url))}"
                )
        contradiction = (
            self._port_shared()
            or self._leader_on_this_host()
            or self._contradiction()
            or self._leader_on_another_port()
            or self._one_file_two_roles()
        )
        if contradiction:
            raise ValueError(contradiction)
        if not self.bootstrap:
            for name, service, url in self._leader_candidates():
                if self.is_own_api(service, url):
                    # A joining node whose leader is its own API asked only its own service,
                    # which lists us once it formed a one-node cluster: exit 2 with a marker.
                    raise ValueError(
                        f"{name}: {_quote(url)} is this node's own {service.value} API "
                        f"({self.advertised_api_url(service)}); a joining node's leader is another node"
                    )
        return self

    def _leader_candidates(self) -> list[tuple[str, Service, str]]:
        """(field, service, URL): each join's configured leader (flaredb's too when it is
        derived from `leader_url`'s host: that join would ask only itself first) and every
        `discovery.peer_urls` entry as written (chainfire API URLs). flaredb asks a peer URL's
        host on its own port; that derived candidate, when it is this node, is dropped where
        candidates are made (`LeaderFinder.candidates`), the configured leader still there."""
        out = []
        for service in (Service.CHAINFIRE, Service.FLAREDB):
            written = f"services.{service.value}.leader_url" if self.endpoint(service).leader_url else "leader_url"
            out.append((written, service, self.leader_url_for(service)))
        out += [(f"discovery.peer_urls[{i}]", Service.CHAINFIRE, url) for i, url in enumerate(self.discovery.peer_urls)]
        return out

    def is_own_api(self, service: Service, url: str) -> bool:
        """Whether `url` is this node's own API for `service`: a host that is this host
        (`is_this_host`) on the service's API port, either scheme. The one rule for leader hints
        and candidates (`LeaderFinder`), health-report's peers and members, and this
        validation."""
        try:
            parts = urlsplit(url)
            port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
        except ValueError:
            return False
        return port == self.endpoint(service).api_port and self.is_this_host(parts.hostname or "")

    def is_this_host(self, host: str) -> bool:
        """Whether a connection to `host` lands on this node: its advertised host, its node id,
        `localhost`, an unspecified address (`0.0.0.0`, `0`, `::`: Linux connects them to the
        local host) and, when this node's own address is not a loopback one, any loopback
        address (`127.0.0.1`, `::1`: what `localhost` resolves to). Hosts compared as the
        connection resolves them (`spec.urls.host_key`). A node whose own address IS loopback
        runs side by side with others on 127.0.0.x (tests, a laptop): there another loopback
        address is another node (break 10, G4: a leader advertised as `0.0.0.0:2379` was
        followed to our own service, whose one-node list proved a join that never happened)."""
        key = host_key(host)
        if key in {host_key(self.host), host_key(self.node_id), "localhost"}:
            return True
        try:
            address = ipaddress.ip_address(key.partition("%")[0])
        except ValueError:
            return False
        return address.is_unspecified or (address.is_loopback and not self.host_is_loopback)

    @property
    def host_is_loopback(self) -> bool:
        """This node's own address is a loopback one (nodes side by side on one host)."""
        return ipaddress.IPv4Address(self.host).is_loopback

    def _listeners(self) -> list[tuple[str, int]]:
        """(field, port) of every listener on this node: each service's API and Raft port."""
        return [
            ("services.chainfire.api_port", self.services.chainfire.api_port),
            ("raft_addr (chainfire's Raft port)", int(self.raft_addr.rpartition(":")[2])),
            ("services.flaredb.api_port", self.services.flaredb.api_port),
            ("services.flaredb.raft_port", self.services.flaredb.raft_port),
            ("services.iam.api_port", self.services.iam.api_port),
        ]

    def _port_shared(self) -> str | None:
        """Two listeners of this node on one port: one of them cannot bind it, and the other
        service is asked or registered there (break 10, G6: `services.flaredb.raft_port: 2380`
        validated, and flaredb registered chainfire's Raft address in the flaredb cluster: a
        member that never votes). Each field is fine alone; together they contradict."""
        seen: dict[int, str] = {}
        for name, port in self._listeners():
            if port in seen:
                return (
                    f"{name}: port {port} is also {seen[port]}; each service's API and Raft listener "
                    "on this node needs a port of its own"
                )
            seen[port] = name
        return None

    def _peer_url_fields(self) -> list[tuple[str, str]]:
        """(field, URL) of every URL naming another node: the leaders and `discovery.peer_urls`."""
        return self._urls() + [(f"discovery.peer_urls[{i}]", url) for i, url in enumerate(self.discovery.peer_urls)]

    def _leader_on_this_host(self) -> str | None:
        """A leader or peer URL whose host can only be this host (`is_this_host`): an
        unspecified address (`0.0.0.0`, `0`, `[::]`) is a listen address, never a node's, in
        any mode; a loopback one (`127.0.0.1`, `[::1]`) on a node whose own address is not
        loopback reaches this node itself, which a joining node's leader never is (a bootstrap
        node's `leader_url` may name itself, for `leave`). Such a leader led the join to our own
        service, whose one-node list "proved" it (break 10, G4). Nodes side by side on loopback
        addresses (own address 127.x) keep loopback peers: there they are other nodes."""
        for field, peers in (("initial_peers", self.initial_peers), ("flaredb_peers", self.flaredb_peers)):
            for i, peer in enumerate(peers):
                host = peer.partition("=")[2].rpartition(":")[0] if "=" in peer else peer.rpartition(":")[0]
                if is_unspecified(host):
                    return (
                        f"{field}[{i}]: {_quote(peer)} names the unspecified address {host}, a listen address that "
                        "no peer can reach; give the node's own address"
                    )
        for name, url in self._peer_url_fields():
            host = urlsplit(url).hostname or ""
            try:
                address = ipaddress.ip_address(host_key(host).partition("%")[0])
            except ValueError:
                continue
            if address.is_unspecified:
                return (
                    f"{name}: {_quote(url)} names the unspecified address {host}, a listen address that "
                    "reaches this node itself; give the node's own address"
                )
            if address.is_loopback and not self.host_is_loopback and not self.bootstrap:
                return (
                    f"{name}: {_quote(url)} is a loopback address, which reaches this node itself (its address "
                    f"is {self.host}); a joining node's leader and peers are other nodes"
                )
        return None

    def _contradiction(self) -> str | None:
        """Two values the user wrote that cannot both hold. We refuse rather than pick one: the
        design's words say what each field means, and silently preferring one is how a node
        ends up joining the wrong port."""
        chainfire = self.services.chainfire
        written = chainfire.model_fields_set
        leader_port = urlsplit(self.leader_url).port
        if (
            "api_port" in written
            and not chainfire.leader_url
            and leader_port is not None
            and leader_port != chainfire.api_port
        ):
            return (
                f"leader_url: its port {leader_port} contradicts services.chainfire.api_port {chainfire.api_port}; "
                "leader_url is the leader's chainfire API: make the ports agree, or set "
                "services.chainfire.leader_url when the leader's API really listens elsewhere"
            )
        return None

    def _one_file_two_roles(self) -> str | None:
        """A file fba writes (the IAM credentials, the textfile) named again by another path
        setting: the writer would destroy the other's content (break 10, G1: health-report wrote
        its metrics over the only copy of the admin password). The spelling only; links, the
        config's own path and the state dir are judged at run time (`automation.pathroles`)."""
        paths = [("iam.credentials_path", self.iam.credentials_path, True)]
        if self.prometheus_textfile:
            paths.append(("prometheus_textfile", self.prometheus_textfile, True))
        paths.append(("iam.bootstrap_token_path", self.iam.bootstrap_token_path, False))
        for key in ("ca_cert_path", "node_cert_path", "node_key_path"):
            value = getattr(self.tls, key)
            if value:
                paths.append((f"tls.{key}", value, False))
        for i, (writer, path, writes) in enumerate(paths):
            for other, other_path, _ in paths[i + 1 :] if writes else ():
                if posixpath.normpath(path) == posixpath.normpath(other_path):
                    return (
                        f"{writer} and {other} are the same file ({_quote(path)}): fba writes {writer} there "
                        f"and would destroy {other}; give each its own file"
                    )
        return None

    def _leader_on_another_port(self) -> str | None:
        """A service's leader (configured, derived or a `discovery.peer_urls` entry) on another
        service's API port. The join never asks a candidate on
        another service's port (`LeaderFinder`: chainfire's member list is only asked of
        chainfire), so such a leader is a typo that validated and then left the join with
        nobody to ask (break 9, F19: exit 3 blaming "this node's own API")."""
        for name, service, url in self._leader_candidates():
            owner = self.port_owner(service, url)
            if owner is not None:
                return (
                    f"{name}: {_quote(url)} is on {owner.value}'s API port (services.{owner.value}.api_port), "
                    f"but {service.value}'s leader is asked for {service.value}'s member list on "
                    f"{service.value}'s API port ({self.endpoint(service).api_port}); the join would never ask it"
                )
        return None

    def port_owner(self, service: Service, url: str) -> Service | None:
        """The other service whose API port `url` is on (its scheme's port when it names none),
        None when it is `service`'s or nobody's. The one rule for config validation and for
        `LeaderFinder`, which never asks `service`'s leader there."""
        try:
            parts = urlsplit(url)
            port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
        except ValueError:
            return None
        if port == self.endpoint(service).api_port:
            return None
        return next((s for s in Service if s is not service and self.endpoint(s).api_port == port), None)

    def warnings(self) -> list[str]:
        """Contradictions that cannot change what fba does, only what a reader believes: said
        (WARN at load, a warning line from `config validate`), never silently resolved."""
        out = []
        chainfire = self.services.chainfire
        raft_port = int(self.raft_addr.rpartition(":")[2])
        said = chainfire.raft_port if "raft_port" in chainfire.model_fields_set else None
        if said is not None and said != raft_port:  # null says nothing: the field is unused
            out.append(
                f"services.chainfire.raft_port {chainfire.raft_port} differs from raft_addr {self.raft_addr}; "
                "chainfire registers raft_addr as written (drop services.chainfire.raft_port or make them agree)"
            )
        return out

    def _peer_lists(self) -> list[tuple[str, list[str], Service]]:
        """(field, peers, service) of every list of Raft peers in the config: a Raft cluster is
        formed from it (the services' `--cluster-config`), so each names its service's Raft
        addresses. `flaredb_peers` only when given (empty: flaredb takes `initial_peers`' hosts)."""
        lists = [("initial_peers", self.initial_peers, Service.CHAINFIRE)]
        if self.flaredb_peers:
            lists.append(("flaredb_peers", self.flaredb_peers, Service.FLAREDB))
        return lists

    def _peer_list_problem(self, field: str, peers: list[str], service: Service) -> str | None:
        """A peer list that contradicts itself or this node (break 12, K7): this node's id at
        another address, its Raft address under another id, this node twice, an entry, an id or
        an address twice. The rules the join applies to a leader's member list
        (`membership.judge`, with the same `names_us`), applied to the list the cluster is formed
        from: each validated, and the bootstrap "formed" a cluster whose first member list
        already held the conflict (etcd refuses the same in `--initial-cluster` at start)."""
        own = self.service_raft_addr(service)
        first_text: dict[str, int] = {}
        first_id: dict[str, int] = {}
        first_addr: dict[tuple[str, int | None], int] = {}
        first_self: int | None = None
        for i, peer in enumerate(peers):
            peer_id, sep, rest = peer.partition("=")
            addr = rest if sep else peer
            host, _, port = addr.rpartition(":")
            ours = names_us(addr, self.node_id, own)
            if peer in first_text:
                return f"{field}[{i}]: {_quote(peer)} is given twice ({field}[{first_text[peer]}]); each peer once"
            if sep and peer_id == self.node_id and not ours:
                return (
                    f"{field}[{i}]: {_quote(peer)} gives this node's id {self.node_id} another address than its "
                    f"Raft address {own}; fix the entry or raft_addr"
                )
            if sep and ours and peer_id != self.node_id:
                return (
                    f"{field}[{i}]: {_quote(peer)} gives this node's Raft address {own} to another id ({peer_id}, "
                    f"this node is {self.node_id}); fix the entry or node_id"
                )
            if ours and first_self is not None:
                return (
                    f"{field}[{i}]: {_quote(peer)} is this node again ({field}[{first_self}] is "
                    f"{_quote(peers[first_self])}); list it once"
                )
            key = (host_key(host), int(port) if port.isdigit() else None)
            for taken, what in ((first_id.get(peer_id) if sep else None, f"id {peer_id}"),
                                (first_addr.get(key), f"address {addr}")):  # fmt: skip
                if taken is not None:
                    return (
                        f"{field}[{i}]: {_quote(peer)} names {what} again ({field}[{taken}] is "
                        f"{_quote(peers[taken])}); each peer once, at one address"
                    )
            first_text[peer] = i
            first_addr[key] = i
            if sep:
                first_id[peer_id] = i
            if ours:
                first_self = i
        return None

    def _lists_self(self, peers: list[str], service: Service) -> bool:
        """Some entry is this node: at its Raft address (`names_us`), or under its id (whose
        address `_peer_list_problem` has already checked)."""
        own = self.service_raft_addr(service)
        for peer in peers:
            peer_id, sep, addr = peer.partition("=")
            if (sep and peer_id == self.node_id) or names_us(addr if sep else peer, self.node_id, own):
                return True
        return False

    def _urls(self) -> list[tuple[str, str]]:
        urls = [("leader_url", self.leader_url)]
        for service in Service:
            endpoint = self.endpoint(service)
            if endpoint.leader_url:
                urls.append((f"services.{service.value}.leader_url", endpoint.leader_url))
        return urls

    # Derived values: computed, never stored, so they cannot drift from the fields above.

    def endpoint(self, service: Service) -> ServiceEndpoint:
        result: ServiceEndpoint = getattr(self.services, service.value)
        return result

    @property
    def scheme(self) -> Literal["http", "https"]:
        return "https" if self.tls.enabled else "http"

    @property
    def host(self) -> str:
        return self.raft_addr.rpartition(":")[0]

    def local_api_url(self, service: Service) -> str:
        """This node's own service, at the address it advertises (services bind to it, not
        necessarily to loopback; TLS certificates name it)."""
        return self.advertised_api_url(service)

    def advertised_api_url(self, service: Service) -> str:
        return f"{self.scheme}://{self.host}:{self.endpoint(service).api_port}"

    def service_raft_addr(self, service: Service) -> str:
        """chainfire uses raft_addr as given; flaredb the same host with its own Raft port
        (never chainfire's: a service's port is that service's or an error, no fallback)."""
        if service is Service.CHAINFIRE:
            return self.raft_addr
        if service is Service.FLAREDB:
            return f"{self.host}:{self.services.flaredb.raft_port}"
        raise ValueError(f"{service.value} has no Raft address")  # a caller's mistake, not input

    def leader_url_for(self, service: Service) -> str:
        """chainfire: `leader_url` as written (the field's documented meaning), with chainfire's
        api_port only when it names no port. Other services: its host with their api_port.
        A per-service `services.X.leader_url` wins for its service."""
        endpoint = self.endpoint(service)
        if endpoint.leader_url:
            return endpoint.leader_url.rstrip("/")
        if service is Service.CHAINFIRE:
            if urlsplit(self.leader_url).port is not None:
                return self.leader_url.rstrip("/")
            return with_port(self.leader_url, endpoint.api_port)
        return with_port(self.leader_url, endpoint.api_port)

    def peers_for(self, service: Service) -> list[str]:
        return self.flaredb_peers if service is Service.FLAREDB and self.flaredb_peers else self.initial_peers

    def peer_api_urls(self, service: Service) -> list[str]:
        """API base URLs of the known peers, for leader discovery."""
        port = self.endpoint(service).api_port
        scheme = urlsplit(self.leader_url).scheme
        urls = []
        for peer in self.peers_for(service):
            _, sep, addr = peer.partition("=")
            host = (addr if sep else peer).rpartition(":")[0]
            urls.append(f"{scheme}://{host}:{port}")
        urls.extend(u.rstrip("/") for u in self.discovery.peer_urls)
        return list(dict.fromkeys(urls))


def with_port(url: str, port: int) -> str:
    """`url`'s scheme and host with `port`: a base URL (a path is refused where URLs are
    validated, `_base_url`, so none is dropped here unseen)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return urlunsplit((parts.scheme, netloc, "", "", "")).rstrip("/")


def json_schema() -> dict[str, Any]:
    """Draft-07 JSON Schema of `ClusterConfig`: a superset of the design's appendix."""
    schema = ClusterConfig.model_json_schema(ref_template="#/definitions/{model}", by_alias=True)
    definitions = schema.pop("$defs", {})
    out: dict[str, Any] = {"$schema": "http://json-schema.org/draft-07/schema#"}
    out.update(schema)
    out["title"] = "cluster-config.json"
    if definitions:
        out["definitions"] = definitions
    return out
