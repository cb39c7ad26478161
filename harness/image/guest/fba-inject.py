#!/usr/bin/python3
"""Guest side of node injection: unpack the fw_cfg blob into the node's files.

Runs at boot from fba-inject.service (after udev, before networkd, sshd and the services) in
both images: the Debian image's unit and the NixOS netboot image's (netboot/netboot-base.nix,
which passes its own paths). Python stdlib only: it runs on the image's python3 before
anything else is set up, and on the host in unit tests against a fake sysfs path and a temp
root (`--root`).

Writes, relative to --root:
  SECRETS_DIR/cluster-config.json and SECRETS_DIR/<files...>   mode 0600, dir 0700
  /etc/hostname, /etc/hosts
  AUTHORIZED_KEYS  root's SSH keys (0600, dir 0700); sshd must be told to read this file
  NETWORK_FILE  systemd-networkd file: cluster NIC matched by MAC, static address
  ENV_FILE      KEY="value" lines for the services' EnvironmentFile=, incl. FBA_FAILPOINTS
Every file is written to a temp name, fsynced and renamed: a reader never sees half a file.
Prints one console line, "FBA-INJECT ok|none|error ...", naming files but never contents.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import time
from pathlib import Path, PurePosixPath

FORMAT = "fba-inject/1"
DEFAULT_SOURCE = "/sys/firmware/qemu_fw_cfg/by_name/opt/fba/inject/raw"


class InjectError(Exception):
    pass


def under(root: Path, absolute: str) -> Path:
    return root / absolute.lstrip("/")


def atomic_write(path: Path, data: bytes, mode: int, dir_mode: int | None = None) -> None:
    if dir_mode is not None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=dir_mode)
        os.chmod(path.parent, dir_mode)  # mkdir's mode is masked by umask; exist_ok skips it
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.fba-tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def read_source(source: Path, wait_s: float) -> bytes | None:
    """The blob, or None if this VM has no fw_cfg entry (a plain boot without injection)."""
    deadline = time.monotonic() + wait_s
    for _ in range(int(wait_s / 0.1) + 2):
        if source.exists():
            return source.read_bytes()
        if time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    return None


def decode(blob: bytes) -> dict[str, object]:
    try:
        doc = json.loads(blob)
    except ValueError as err:
        raise InjectError(f"blob is not JSON ({len(blob)} bytes): {err}") from err
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        seen = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        raise InjectError(f"blob format is {seen!r}, expected {FORMAT!r}")
    return doc


def safe_relative(name: str) -> str:
    pure = PurePosixPath(name)
    if pure.is_absolute() or ".." in pure.parts or not pure.parts:
        raise InjectError(f"file name {name!r} must be relative without '..'")
    return str(pure)


def quote_env(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$") + '"'


def hosts_file(hostname: str, hosts: dict[str, str]) -> str:
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
    if hostname not in hosts:
        lines.append(f"127.0.1.1\t{hostname}")
    lines += [f"{address}\t{name}" for name, address in sorted(hosts.items())]
    return "\n".join(lines) + "\n"


def network_file(mac: str, cidr: str) -> str:
    return (
        "# written by fba-inject from the fw_cfg blob\n"
        f"[Match]\nMACAddress={mac}\n\n"
        "[Link]\nRequiredForOnline=yes\n\n"
        f"[Network]\nAddress={cidr}\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n"
    )


def apply(doc: dict[str, object], args: argparse.Namespace) -> list[str]:
    """Write every file; returns the secret file names written (for the console line)."""
    root = Path(args.root)
    secrets = under(root, args.secrets_dir)
    hostname = str(doc["hostname"])
    hosts = {str(k): str(v) for k, v in dict(doc.get("hosts") or {}).items()}  # type: ignore[call-overload]
    files = {"cluster-config.json": str(doc["cluster_config"])}
    files.update({safe_relative(str(k)): str(v) for k, v in dict(doc.get("files") or {}).items()})  # type: ignore[call-overload]
    for name, encoded in sorted(files.items()):
        atomic_write(secrets / name, base64.b64decode(encoded, validate=True), 0o600, dir_mode=0o700)
    os.chmod(secrets, 0o700)
    atomic_write(under(root, "/etc/hostname"), f"{hostname}\n".encode(), 0o644)
    atomic_write(under(root, "/etc/hosts"), hosts_file(hostname, hosts).encode(), 0o644)
    keys = str(doc.get("authorized_keys") or "")
    atomic_write(under(root, args.authorized_keys), keys.encode(), 0o600, dir_mode=0o700)
    net = network_file(str(doc["cluster_mac"]), str(doc["cluster_cidr"]))
    atomic_write(under(root, args.network_file), net.encode(), 0o644)
    env = {str(k): str(v) for k, v in dict(doc.get("env") or {}).items()}  # type: ignore[call-overload]
    failpoints = doc.get("failpoints")
    if failpoints:
        env["FBA_FAILPOINTS"] = str(failpoints)
    env_text = "".join(f"{key}={quote_env(value)}\n" for key, value in sorted(env.items()))
    atomic_write(under(root, args.env_file), env_text.encode(), 0o600, dir_mode=0o755)
    if root == Path("/"):
        Path("/proc/sys/kernel/hostname").write_text(hostname)
    return sorted(files)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="fba-inject", description=__doc__.splitlines()[1])
    parser.add_argument("--source", default=DEFAULT_SOURCE)
    parser.add_argument("--root", default="/")
    parser.add_argument("--secrets-dir", default="/etc/nixos/secrets")
    parser.add_argument("--env-file", default="/run/first-boot-automation/env")
    parser.add_argument("--network-file", default="/run/systemd/network/10-fba-cluster.network")
    # The Debian image's sshd reads root's home; the NixOS images name one file for sshd
    # (services.openssh.authorizedKeysFiles), the same for netboot and installed nodes.
    parser.add_argument("--authorized-keys", default="/root/.ssh/authorized_keys")
    parser.add_argument("--wait", type=float, default=5.0, help="seconds to wait for --source")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    blob = read_source(Path(args.source), args.wait)
    if blob is None:
        print(f"FBA-INJECT none source={args.source} (no fw_cfg entry; booting without node config)")
        return 0
    try:
        doc = decode(blob)
        names = apply(doc, args)
    except (InjectError, KeyError, ValueError, OSError) as err:
        print(f"FBA-INJECT error {type(err).__name__}: {err}", flush=True)
        return 1
    print(f"FBA-INJECT ok host={doc['hostname']} ip={doc['cluster_cidr']} files={','.join(names)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
