"""Daemon knobs: one table of settings feeds argparse, the STANDIN_* environment and docs.

Every flag `--some-knob` has the environment twin `STANDIN_SOME_KNOB`; a flag given on the
command line wins over the environment. `--cluster-config PATH` fills node id, addresses,
peers and TLS paths from the node's cluster-config.json (see `standins.cluster_config`);
explicit flags still override what the file says.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from standins.cluster_config import (
    Peer,
    TlsSection,
    load_cluster_config,
    parse_peer,
    peers_from_file,
)
from standins.contract import Service, split_host_port
from standins.errors import ConfigError

DEFAULT_PORTS: Mapping[Service, tuple[int, int]] = {
    Service.CHAINFIRE: (2379, 2380),
    Service.FLAREDB: (2479, 2480),
    Service.IAM: (8080, 0),
}


@dataclass(frozen=True)
class Setting:
    """One knob: its flag, which services take it, how to parse it, and its help."""

    flag: str
    help: str
    services: frozenset[Service]
    default: str | None = None
    is_bool: bool = False

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")

    @property
    def env(self) -> str:
        return "STANDIN_" + self.dest.upper()


_RAFT = frozenset({Service.CHAINFIRE, Service.FLAREDB})
_ALL = frozenset(Service)
_IAM = frozenset({Service.IAM})

SETTINGS: tuple[Setting, ...] = (
    Setting("--node-id", "this node's member id", _ALL),
    Setting("--api-addr", "HOST:PORT[,HOST:PORT...] the API listens on (first is primary)", _ALL),
    Setting("--raft-addr", "HOST:PORT of this node's Raft transport", _RAFT),
    Setting("--advertise-api-url", "URL other nodes use to reach this API", _ALL),
    Setting("--data-dir", "Raft journal, snapshot and peer list live here", _RAFT),
    Setting("--initial-cluster", "bootstrap peers id=host:port,... (none: join mode)", _RAFT),
    Setting("--cluster-config", "derive id, addresses, peers, TLS from cluster-config.json", _ALL),
    Setting("--cluster-name", "the cluster's name, given as `cluster` in member lists and /health", _RAFT),
    Setting("--tls-ca", "CA bundle: verifies peers and (optionally) client certificates", _ALL),
    Setting("--tls-cert", "server certificate (PEM); also the client cert towards peers", _ALL),
    Setting("--tls-key", "key of --tls-cert (PEM)", _ALL),
    Setting("--tls-require-client-cert", "reject HTTPS clients without a cert from --tls-ca", _ALL, is_bool=True),
    Setting("--health-delay", "seconds /health answers 503 starting after start-up", _ALL, "0"),
    Setting("--admin-delay", "seconds each member add/remove takes (holding the change lock)", _RAFT, "0"),
    Setting("--admin-fail-status", "HTTP status the first --admin-fail-count calls get", _RAFT),
    Setting("--admin-fail-count", "how many admin calls fail with --admin-fail-status", _RAFT, "0"),
    Setting("--redirect-to-leader", "followers answer 307 instead of 421", _RAFT, is_bool=True),
    Setting("--raft-profile", "Raft timings: default, fast (tests) or slow (emulated/busy hosts)", _RAFT, "default"),
    Setting("--commit-timeout", "seconds to wait for a Raft commit before 503", _RAFT, "10"),
    Setting("--log-format", "json (default) or text", _ALL, "json"),
    Setting("--flaredb-url", "flaredb API base URL iam keeps its data in", _IAM),
    Setting("--bootstrap-token-file", "file holding the cluster bootstrap token", _IAM),
    Setting("--bootstrap-token-expires", "ISO 8601 expiry of the bootstrap token", _IAM),
)


@dataclass(frozen=True)
class TlsFiles:
    """PEM paths for HTTPS; `ca` also verifies the services this one calls."""

    cert: Path
    key: Path
    ca: Path | None
    require_client_cert: bool


@dataclass(frozen=True)
class DaemonConfig:
    """Everything a daemon needs, resolved and validated."""

    service: Service
    node_id: str
    api_host: str
    api_port: int
    advertise_api_url: str
    extra_listen: tuple[tuple[str, int], ...] = ()
    raft_addr: str = ""
    raft_bind: str = ""
    data_dir: Path = Path(".")
    initial_cluster: tuple[Peer, ...] = ()
    tls: TlsFiles | None = None
    health_delay: float = 0.0
    admin_delay: float = 0.0
    admin_fail_status: int | None = None
    admin_fail_count: int = 0
    redirect_to_leader: bool = False
    raft_profile: str = "default"
    commit_timeout: float = 10.0
    log_format: str = "json"
    flaredb_url: str = ""
    bootstrap_token_file: Path | None = None
    bootstrap_token_expires: datetime | None = None
    extra: Mapping[str, str] = field(default_factory=dict)
    cluster_name: str = ""  # `cluster` in member lists and /health (empty: not said)

    @property
    def scheme(self) -> str:
        return "https" if self.tls is not None else "http"

    def api_url_for_host(self, host: str) -> str:
        """The API URL of a peer on `host`: same scheme and port as this node's API."""
        return f"{self.scheme}://{host}:{self.api_port}"


def build_parser(service: Service) -> argparse.ArgumentParser:
    """The argparse parser for one service, generated from SETTINGS."""
    parser = argparse.ArgumentParser(prog=f"standin-{service}", description=f"Stand-in {service} daemon")
    for setting in SETTINGS:
        if service not in setting.services:
            continue
        if setting.is_bool:
            parser.add_argument(
                setting.flag, action="store_true", default=None, help=f"{setting.help} (env {setting.env})"
            )
        else:
            parser.add_argument(setting.flag, default=None, help=f"{setting.help} (env {setting.env})")
    return parser


def _number(raw: str, knob: str, convert: Callable[[str], float]) -> float:
    try:
        return convert(raw)
    except ValueError as err:
        raise ConfigError(f"{knob}: expected a number, got {raw!r}; fix the flag") from err


def parse_config(service: Service, argv: Sequence[str], env: Mapping[str, str]) -> DaemonConfig:
    """Resolve flags > environment > cluster-config.json > defaults into a DaemonConfig.

    Raises:
        ConfigError: a knob is missing or malformed; the message names it.
    """
    args = vars(build_parser(service).parse_args(list(argv)))
    raw: dict[str, str | None] = {}
    for setting in SETTINGS:
        if service not in setting.services:
            continue
        value = args.get(setting.dest)
        if value is None:
            value = env.get(setting.env)
        if setting.is_bool and value is not None and not isinstance(value, bool):
            value = "1" if str(value).strip().lower() in {"1", "true", "yes", "on"} else ""
        elif isinstance(value, bool):
            value = "1" if value else ""
        raw[setting.dest] = value if value is not None else setting.default
    return _resolve(service, raw)


def _resolve(service: Service, raw: Mapping[str, str | None]) -> DaemonConfig:
    api_port_default, raft_port_default = DEFAULT_PORTS[service]
    from_file = _from_cluster_config(service, raw.get("cluster_config"))
    node_id = raw.get("node_id") or from_file.node_id
    raft_addr = raw.get("raft_addr") or from_file.raft_addr or ""
    api_addr = raw.get("api_addr") or from_file.api_addr
    if service is not Service.IAM and not raft_addr:
        raise ConfigError("--raft-addr: missing; give HOST:PORT or --cluster-config")
    if raft_addr:
        try:
            raft_host, _ = split_host_port(raft_addr)
        except ValueError as err:
            raise ConfigError(f"--raft-addr: {err}; give HOST:PORT") from err
    else:
        raft_host = "127.0.0.1"
    if not api_addr:
        api_addr = f"{raft_host}:{api_port_default}"
    try:
        listen = [split_host_port(a.strip()) for a in api_addr.split(",") if a.strip()]
    except ValueError as err:
        raise ConfigError(f"--api-addr: {err}; give HOST:PORT[,HOST:PORT...]") from err
    if not listen:
        raise ConfigError("--api-addr: empty; give HOST:PORT")
    (api_host, api_port), extra_listen = listen[0], tuple(listen[1:])
    if not node_id:
        node_id = raft_host if raft_addr else api_host
    tls = _tls(raw, from_file)
    scheme = "https" if tls else "http"
    advertise = raw.get("advertise_api_url") or f"{scheme}://{api_host}:{api_port}"
    peers_text = raw.get("initial_cluster")
    if peers_text:
        try:
            peers = tuple(parse_peer(p, raft_port_default) for p in peers_text.split(",") if p)
        except ValueError as err:
            raise ConfigError(f"--initial-cluster: {err}; use id=host:port,...") from err
    else:
        peers = from_file.peers
    data_dir = Path(raw.get("data_dir") or f"/var/lib/{service}")
    return DaemonConfig(
        service=service,
        node_id=node_id,
        api_host=api_host,
        api_port=api_port,
        extra_listen=extra_listen,
        advertise_api_url=advertise.rstrip("/"),
        raft_addr=raft_addr,
        raft_bind=raft_addr,
        data_dir=data_dir,
        initial_cluster=peers,
        tls=tls,
        health_delay=_number(raw.get("health_delay") or "0", "--health-delay", float),
        admin_delay=_number(raw.get("admin_delay") or "0", "--admin-delay", float),
        admin_fail_status=_fail_status(raw.get("admin_fail_status")),
        admin_fail_count=int(_number(raw.get("admin_fail_count") or "0", "--admin-fail-count", int)),
        redirect_to_leader=bool(raw.get("redirect_to_leader")),
        raft_profile=_choice(raw.get("raft_profile") or "default", "--raft-profile", ("default", "fast", "slow")),
        commit_timeout=_number(raw.get("commit_timeout") or "10", "--commit-timeout", float),
        log_format=_choice(raw.get("log_format") or "json", "--log-format", ("json", "text")),
        flaredb_url=(raw.get("flaredb_url") or from_file.flaredb_url or "").rstrip("/"),
        bootstrap_token_file=Path(p)
        if (p := raw.get("bootstrap_token_file") or from_file.bootstrap_token_file)
        else None,
        bootstrap_token_expires=_expiry(raw.get("bootstrap_token_expires")),
        cluster_name=raw.get("cluster_name") or from_file.cluster_name or "",
    )


@dataclass(frozen=True)
class _FromFile:
    """What cluster-config.json contributes (flags override each field)."""

    node_id: str | None = None
    raft_addr: str | None = None
    api_addr: str | None = None
    peers: tuple[Peer, ...] = ()
    tls: TlsSection | None = None
    flaredb_url: str | None = None  # iam: this node's flaredb
    bootstrap_token_file: str | None = None  # iam: the shared bootstrap token
    cluster_name: str | None = None


def _from_cluster_config(service: Service, path: str | None) -> _FromFile:
    if not path:
        return _FromFile()
    cfg = load_cluster_config(Path(path))
    api_port, raft_port = DEFAULT_PORTS[service]
    host, _ = split_host_port(cfg.raft_addr)
    raft_addr = {Service.CHAINFIRE: cfg.raft_addr, Service.FLAREDB: f"{host}:{raft_port}"}.get(service)
    peers: tuple[Peer, ...] = ()
    if cfg.bootstrap and service is not Service.IAM:
        peers = peers_from_file(cfg, service is Service.FLAREDB, raft_port)
    tls = cfg.tls if cfg.tls is not None and cfg.tls.enabled else None
    flaredb_url = token_file = None
    if service is Service.IAM:
        # iam keeps its data in this node's flaredb, reached the way the node advertises it.
        flaredb_url = f"{'https' if tls else 'http'}://{host}:{DEFAULT_PORTS[Service.FLAREDB][0]}"
        token_file = cfg.iam.bootstrap_token_path
    # The node's address (what peers and certificates name) and loopback (what local tools and
    # NixOS test scripts probe: `wait_for_open_port(2379)` means localhost).
    listen = f"{host}:{api_port}" if host in ("127.0.0.1", "0.0.0.0") else f"{host}:{api_port},127.0.0.1:{api_port}"
    return _FromFile(cfg.node_id, raft_addr, listen, peers, tls, flaredb_url, token_file, cfg.cluster_name)


def _tls(raw: Mapping[str, str | None], from_file: _FromFile) -> TlsFiles | None:
    cert, key, ca = raw.get("tls_cert"), raw.get("tls_key"), raw.get("tls_ca")
    if from_file.tls is not None and not cert:
        cert = from_file.tls.node_cert_path
        key = key or from_file.tls.node_key_path
        ca = ca or from_file.tls.ca_cert_path
    if not cert and not key:
        return None
    if not cert or not key:
        raise ConfigError("--tls-cert/--tls-key: give both or neither")
    require = bool(raw.get("tls_require_client_cert"))
    if require and not ca:
        raise ConfigError("--tls-require-client-cert: needs --tls-ca to verify clients")
    return TlsFiles(Path(cert), Path(key), Path(ca) if ca else None, require)


def _fail_status(raw: str | None) -> int | None:
    if not raw:
        return None
    status = int(_number(raw, "--admin-fail-status", int))
    if not 400 <= status <= 599:
        raise ConfigError(f"--admin-fail-status: {status} is not an error status; use 4xx/5xx")
    return status


def _choice(raw: str, knob: str, choices: tuple[str, ...]) -> str:
    if raw not in choices:
        raise ConfigError(f"{knob}: {raw!r} is not one of {', '.join(choices)}")
    return raw


def _expiry(raw: str | None) -> datetime | None:
    if not raw:
        return None
    try:
        when = datetime.fromisoformat(raw)
    except ValueError as err:
        raise ConfigError(f"--bootstrap-token-expires: {raw!r} is not ISO 8601") from err
    if when.tzinfo is None:
        raise ConfigError("--bootstrap-token-expires: add a UTC offset, e.g. +00:00")
    return when
