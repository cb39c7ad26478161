"""Per-node injection: the fw_cfg blob the guest's `fba-inject` unit unpacks at boot.

One image serves every node; what differs (hostname, cluster address, secrets, SSH key,
failpoints) travels in one JSON blob passed as `-fw_cfg name=opt/fba/inject,file=BLOB`.
The guest writes the secrets into /etc/nixos/secrets/ with mode 0600, as nixos-anywhere does
in the design.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import MappingProxyType

from harness.errors import InfrastructureError
from harness.image.contract import FW_CFG_NAME, INJECTION_FORMAT, MAX_INJECTION_BYTES

__all__ = ["FW_CFG_NAME", "NodeInjection", "injection_document", "write_injection"]

_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
_HOSTNAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_EMPTY: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True)
class NodeInjection:
    """Everything one node gets at boot. `files` are relative paths under the secrets dir."""

    hostname: str
    cluster_mac: str
    cluster_cidr: str  # e.g. "10.77.0.11/24"
    hosts: Mapping[str, str]  # name -> IP for /etc/hosts
    cluster_config: bytes
    files: Mapping[str, bytes]
    authorized_keys: str
    env: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    failpoints: str | None = None


def _problems(inj: NodeInjection) -> list[str]:
    problems = []
    if not _HOSTNAME.match(inj.hostname):
        problems.append(f"hostname {inj.hostname!r} is not a lowercase DNS label")
    if not _MAC.match(inj.cluster_mac):
        problems.append(f"cluster_mac {inj.cluster_mac!r} is not lowercase aa:bb:cc:dd:ee:ff")
    try:
        ipaddress.ip_interface(inj.cluster_cidr)
        if "/" not in inj.cluster_cidr:
            problems.append(f"cluster_cidr {inj.cluster_cidr!r} lacks a /prefix")
    except ValueError:
        problems.append(f"cluster_cidr {inj.cluster_cidr!r} is not an address/prefix")
    for name, address in inj.hosts.items():
        try:
            ipaddress.ip_address(address)
        except ValueError:
            problems.append(f"hosts[{name!r}] = {address!r} is not an IP address")
        if not name or any(c.isspace() for c in name):
            problems.append(f"hosts name {name!r} is empty or has spaces")
    for rel in inj.files:
        pure = PurePosixPath(rel)
        if pure.is_absolute() or ".." in pure.parts or not pure.parts or rel == "cluster-config.json":
            problems.append(f"files key {rel!r} must be relative, without '..', not cluster-config.json")
    for key, value in inj.env.items():
        if not _ENV_KEY.match(key):
            problems.append(f"env key {key!r} is not a shell-style name")
        if "\n" in value or "\0" in value:
            problems.append(f"env[{key!r}] contains a newline or NUL")
    if inj.failpoints is not None and "\n" in inj.failpoints:
        problems.append("failpoints contains a newline")
    if "\0" in inj.authorized_keys:
        problems.append("authorized_keys contains NUL")
    return problems


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def injection_document(inj: NodeInjection) -> dict[str, object]:
    """The JSON document the guest reader expects (format `fba-inject/1`).

    Raises:
        InfrastructureError: a field is malformed (all problems listed at once).
    """
    problems = _problems(inj)
    if problems:
        raise InfrastructureError(f"node injection for {inj.hostname!r}: " + "; ".join(problems))
    return {
        "format": INJECTION_FORMAT,
        "hostname": inj.hostname,
        "cluster_mac": inj.cluster_mac,
        "cluster_cidr": inj.cluster_cidr,
        "hosts": dict(sorted(inj.hosts.items())),
        "cluster_config": _b64(inj.cluster_config),
        "files": {rel: _b64(data) for rel, data in sorted(inj.files.items())},
        "authorized_keys": inj.authorized_keys,
        "env": dict(sorted(inj.env.items())),
        "failpoints": inj.failpoints,
    }


def write_injection(inj: NodeInjection, path: Path) -> Path:
    """Write the fw_cfg blob for `inj` to `path` (mode 0600: it holds keys) and return it.

    Example:
        blob = write_injection(inj, tmp_path / "node01.inject")
        argv += ["-fw_cfg", f"name={FW_CFG_NAME},file={blob}"]

    Raises:
        InfrastructureError: a field is malformed, or the blob exceeds 100 KiB (fw_cfg reads
            grow quadratically; put big payloads in an image layer instead).
    """
    data = json.dumps(injection_document(inj), indent=None, separators=(",", ":")).encode()
    if len(data) > MAX_INJECTION_BYTES:
        raise InfrastructureError(
            f"node injection for {inj.hostname!r}: blob is {len(data)} bytes, over the "
            f"{MAX_INJECTION_BYTES}-byte fw_cfg budget; move large files into an image layer"
        )
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)
    return path
