"""`fba preflight`: the design's "future enhancement 4", one JSON line per check.

Leader reachable (join nodes only: a bootstrap node's peers may not be up yet), TLS files
present, readable, not expired and the key matching the certificate, config and key file
modes, disk, memory and CPU minimums.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from automation import markers, regularfile, secretfiles
from automation.context import Context
from automation.errors import ConfigError, MarkerError
from automation.http import TransportError
from automation.spec.exitcodes import ExitCode
from automation.spec.markers import Service
from automation.spec.units import sandbox_problems

# A certificate bundle or key in PEM; a file larger than this is not one (and /dev/zero never ends).
MAX_PEM_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Result:
    check: str
    ok: bool
    detail: str
    warn_only: bool = False


def run_preflight(ctx: Context) -> ExitCode:
    log = ctx.log.bind(operation="preflight")
    failed = False
    for result in checks(ctx):
        if result.ok:
            log.info(f"Preflight check passed: {result.check}", check=result.check, ok=True, detail=result.detail)
        elif result.warn_only:
            log.warn(f"Preflight check warning: {result.check}", check=result.check, ok=False, detail=result.detail)
        else:
            failed = True
            log.error(f"Preflight check failed: {result.check}", check=result.check, ok=False, detail=result.detail)
    return ExitCode.FAILED if failed else ExitCode.OK


def checks(ctx: Context) -> Iterator[Result]:
    yield from _file_modes(ctx)
    yield from _write_paths(ctx)
    yield from _tls(ctx)
    yield _leader(ctx)
    yield from _resources(ctx)


def _file_modes(ctx: Context) -> Iterator[Result]:
    """The verdicts every other command enforces before it loads these files (same code)."""
    for file in secretfiles.all_files(ctx.config, ctx.config_path):
        verdict = secretfiles.inspect(file)
        refused = verdict.exposure is secretfiles.Exposure.WORLD
        warned = verdict.exposure is secretfiles.Exposure.GROUP
        yield Result(file.check, not (refused or warned), verdict.detail, warn_only=warned)


def _write_paths(ctx: Context) -> Iterator[Result]:
    """Each directory the config makes fba write (the state dir, the IAM credentials', the
    textfile's) can be written here and now (a read-only mount fails it), and is one the shipped
    units' ProtectSystem=strict leaves writable (a WARN: the operator's units may add it to
    ReadWritePaths). A textfile that could never be written was a WARN under "Cluster healthy"
    on every boot, and a credentials path on `/persist` failed every boot (break 12, K13)."""
    cfg = ctx.config
    dirs = [("state dir", ctx.markers.directory), ("iam.credentials_path", Path(cfg.iam.credentials_path).parent)]
    if cfg.prometheus_textfile:
        dirs.append(("prometheus_textfile", Path(cfg.prometheus_textfile).parent))
    for name, directory in dirs:
        if not directory.is_dir():
            continue  # created when first written (the state and credentials dirs); judged then
        try:
            markers.probe_writable(directory, f"{name}'s directory")
        except MarkerError as err:
            yield Result(f"writable:{name}", False, err.message)
            continue
        yield Result(f"writable:{name}", True, f"{directory}: writable")
    for problem in sandbox_problems(cfg, str(ctx.markers.directory)):
        yield Result(f"units-sandbox:{problem.partition(':')[0]}", False, problem, warn_only=True)


def _leader(ctx: Context) -> Result:
    if ctx.config.bootstrap:
        return Result("leader-reachable", True, "skipped: bootstrap node (the cluster forms from initial_peers)")
    url = ctx.config.leader_url_for(Service.CHAINFIRE) + ctx.config.endpoint(Service.CHAINFIRE).health_path
    try:
        reply = ctx.http.request("GET", url, timeout=5.0)
    except TransportError as err:
        return Result("leader-reachable", False, f"{url}: {err.cause}")
    except ConfigError as err:  # a TLS file that cannot be loaded: preflight reports, never refuses
        return Result("leader-reachable", False, f"{url}: {err.message}")
    return Result("leader-reachable", reply.status < 500, f"{url}: HTTP {reply.status}")


def _tls(ctx: Context) -> Iterator[Result]:
    tls = ctx.config.tls
    if not tls.enabled:
        yield Result("tls", True, "skipped: tls.enabled is false")
        return
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    now = datetime.now(UTC)
    margin = timedelta(days=ctx.config.preflight.cert_min_valid_days)
    certs: dict[str, x509.Certificate] = {}
    for label, path in (("ca", tls.ca_cert_path), ("node-cert", tls.node_cert_path)):
        if not path:
            continue
        try:
            cert = x509.load_pem_x509_certificate(regularfile.read(path, MAX_PEM_BYTES))
        except OSError as err:
            yield Result(f"tls-{label}", False, f"{path}: {regularfile.describe(err)}")
            continue
        except ValueError:
            yield Result(f"tls-{label}", False, f"{path}: not a PEM certificate")
            continue
        certs[label] = cert
        expires = cert.not_valid_after_utc
        if cert.not_valid_before_utc > now:
            yield Result(f"tls-{label}", False, f"{path}: not valid before {cert.not_valid_before_utc.isoformat()}")
        elif expires < now + margin:
            yield Result(f"tls-{label}", False, f"{path}: expires {expires.isoformat()} (within {margin.days} days)")
        else:
            yield Result(
                f"tls-{label}", True, f"{path}: '{cert.subject.rfc4514_string()}' valid until {expires.date()}"
            )
    if tls.node_key_path:
        key_path = Path(tls.node_key_path)
        try:
            key = serialization.load_pem_private_key(regularfile.read(key_path, MAX_PEM_BYTES), password=None)
        except OSError as err:
            yield Result("tls-key", False, f"{key_path}: cannot load private key ({regularfile.describe(err)})")
            return
        except (ValueError, TypeError) as err:
            yield Result("tls-key", False, f"{key_path}: cannot load private key ({type(err).__name__})")
            return
        node_cert = certs.get("node-cert")
        if node_cert is not None:
            matches = node_cert.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            ) == key.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            yield Result(
                "tls-key-matches-cert",
                matches,
                "key matches certificate" if matches else "key does NOT match the node certificate",
            )


def _resources(ctx: Context) -> Iterator[Result]:
    want = ctx.config.preflight
    try:
        free_mb = shutil.disk_usage(want.disk_path).free // (1024 * 1024)
        yield Result(
            "disk", free_mb >= want.min_disk_mb, f"{want.disk_path}: {free_mb} MiB free, need {want.min_disk_mb}"
        )
    except OSError as err:
        yield Result("disk", False, f"{want.disk_path}: {err.strerror}")
    memory_mb = _memory_mb()
    if memory_mb is None:
        yield Result("memory", False, "cannot read /proc/meminfo", warn_only=True)
    else:
        yield Result("memory", memory_mb >= want.min_memory_mb, f"{memory_mb} MiB, need {want.min_memory_mb}")
    cpus = os.cpu_count() or 0
    yield Result("cpus", cpus >= want.min_cpus, f"{cpus} CPUs, need {want.min_cpus}")


def _memory_mb() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text(encoding="ascii").splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        return None
    return None
