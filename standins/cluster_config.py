"""The node's cluster-config.json, read for the stand-ins' own needs.

Our own small pydantic model of the design's schema (node_id, bootstrap, raft_addr,
initial_peers, flaredb_peers, tls{...}); unknown keys are ignored so the automation can add
fields without breaking the stand-ins. Peers come as `id=host:port`, `host:port` (id = host)
or a bare host (default Raft port).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from standins.contract import split_host_port
from standins.errors import ConfigError


@dataclass(frozen=True)
class Peer:
    """A bootstrap peer: member id and Raft address."""

    id: str
    raft_addr: str

    @property
    def host(self) -> str:
        return split_host_port(self.raft_addr)[0]


def parse_peer(text: str, default_port: int) -> Peer:
    """Parse `id=host:port`, `host:port` or `host`.

    Raises:
        ValueError: the text has no usable host or port.
    """
    text = text.strip()
    ident, sep, addr = text.partition("=")
    if not sep:
        addr, ident = text, ""
    if ":" not in addr:
        addr = f"{addr}:{default_port}"
    host, _ = split_host_port(addr)
    return Peer(ident.strip() or host, addr)


class TlsSection(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    enabled: bool = False
    ca_cert_path: str | None = None
    node_cert_path: str | None = None
    node_key_path: str | None = None


class IamSection(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    bootstrap_token_path: str = "/etc/nixos/secrets/iam-bootstrap-token"


class ClusterConfigFile(BaseModel):
    """The keys of cluster-config.json the stand-ins read."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    node_id: str
    cluster_name: str | None = None
    bootstrap: bool = False
    raft_addr: str
    initial_peers: list[str] = []
    flaredb_peers: list[str] = []
    tls: TlsSection | None = None
    iam: IamSection = IamSection()

    @field_validator("raft_addr")
    @classmethod
    def _host_port(cls, value: str) -> str:
        split_host_port(value)
        return value


def load_cluster_config(path: Path) -> ClusterConfigFile:
    """Read and validate cluster-config.json.

    Raises:
        ConfigError: unreadable file, bad JSON, or a key with the wrong shape.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"--cluster-config: cannot read {path}: {err.strerror}") from err
    try:
        return ClusterConfigFile.model_validate(json.loads(text))
    except (ValueError, ValidationError) as err:
        first = str(err).splitlines()[0]
        raise ConfigError(f"--cluster-config: {path} is not a valid cluster config: {first}"
                          ) from err


def peers_from_file(cfg: ClusterConfigFile, flaredb: bool, raft_port: int) -> tuple[Peer, ...]:
    """Bootstrap peers for chainfire (initial_peers) or flaredb (flaredb_peers, else
    initial_peers' hosts on flaredb's Raft port).

    Raises:
        ConfigError: a peer entry cannot be parsed.
    """
    try:
        if not flaredb:
            return tuple(parse_peer(p, raft_port) for p in cfg.initial_peers)
        if cfg.flaredb_peers:
            return tuple(parse_peer(p, raft_port) for p in cfg.flaredb_peers)
        out = []
        for text in cfg.initial_peers:
            peer = parse_peer(text, raft_port)
            out.append(Peer(peer.id, f"{peer.host}:{raft_port}"))
        return tuple(out)
    except ValueError as err:
        raise ConfigError(f"--cluster-config: bad peer entry: {err}") from err
