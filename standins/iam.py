"""`standin-iam`: users and tokens kept in flaredb (API :8080 by default)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from standins.contract import Service
from standins.daemon import (
    EXIT_CONFIG,
    EXIT_FAILED,
    EXIT_OK,
    config_or_none,
    install_stop_signals,
    listen_all,
    stop_all,
)
from standins.errors import ConfigError
from standins.httpclient import client_tls_context
from standins.iam_api import IamApp
from standins.iam_store import FlaredbStore
from standins.log import JsonLog


def _read_token(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as err:
        raise ConfigError(f"--bootstrap-token-file: cannot read {path}: {err.strerror}"
                          ) from err
    if len(token) < 8:
        raise ConfigError(f"--bootstrap-token-file: {path} holds fewer than 8 characters")
    return token


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Entry point of `standin-iam`; returns the exit status."""
    cfg = config_or_none(Service.IAM, argv, env)
    if cfg is None:
        return EXIT_CONFIG
    log = JsonLog(str(Service.IAM), cfg.node_id, cfg.log_format)
    if not cfg.flaredb_url:
        log.error("bad configuration", error="--flaredb-url: missing; give flaredb's API URL")
        return EXIT_CONFIG
    try:
        token = _read_token(cfg.bootstrap_token_file)
    except ConfigError as err:
        log.error("bad configuration", error=str(err))
        return EXIT_CONFIG
    stop = install_stop_signals()
    tls = client_tls_context(cfg.tls.ca, cfg.tls.cert, cfg.tls.key) if cfg.tls else None
    app = IamApp(cfg.node_id, FlaredbStore(cfg.flaredb_url, tls), log, token,
                 cfg.bootstrap_token_expires, health_delay=cfg.health_delay)
    try:
        servers = listen_all(cfg, app, log)
    except OSError as err:
        log.error("start-up failed", error=str(err))
        return EXIT_FAILED
    log.info("serving", api=cfg.advertise_api_url, flaredb=cfg.flaredb_url)
    while not stop.wait(timeout=1.0):  # a daemon lives until signalled
        pass
    stop_all(servers)
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
