"""Shared start-up of the chainfire and flaredb daemons: config, Raft, HTTP, signals."""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Mapping, Sequence
from types import FrameType

from standins.cluster_api import ClusterApp
from standins.config import DaemonConfig, parse_config
from standins.contract import Service
from standins.errors import StandinError
from standins.httpclient import client_tls_context
from standins.lifecycle import ClusterNode
from standins.log import JsonLog, bridge_stdlib_logging
from standins.server import ApiServer, App, server_tls_context

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2


def install_stop_signals() -> threading.Event:
    """SIGTERM/SIGINT set the returned event (the main thread then shuts down cleanly)."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return stop


def config_or_none(service: Service, argv: Sequence[str] | None,
                   env: Mapping[str, str] | None) -> DaemonConfig | None:
    """Parsed config, or None after printing one JSON error line."""
    try:
        return parse_config(service, sys.argv[1:] if argv is None else argv,
                            os.environ if env is None else env)
    except StandinError as err:
        JsonLog(str(service), "?").error("bad configuration", error=str(err))
        return None


def run_cluster_daemon(service: Service, argv: Sequence[str] | None = None,
                       env: Mapping[str, str] | None = None) -> int:
    """Run a chainfire or flaredb stand-in until SIGTERM. Returns the exit status."""
    cfg = config_or_none(service, argv, env)
    if cfg is None:
        return EXIT_CONFIG
    log = JsonLog(str(service), cfg.node_id, cfg.log_format)
    bridge_stdlib_logging(log)
    stop = install_stop_signals()
    try:
        client_tls = (client_tls_context(cfg.tls.ca, cfg.tls.cert, cfg.tls.key)
                      if cfg.tls else None)
        node = ClusterNode(cfg, log, client_tls)
        node.boot()
        servers = listen_all(cfg, ClusterApp(node), log)
    except (StandinError, OSError) as err:
        log.error("start-up failed", error=str(err))
        return EXIT_FAILED
    log.info("serving", api=cfg.advertise_api_url, raft_addr=cfg.raft_addr,
             mode="raft" if node.raft else "join", health_delay_s=cfg.health_delay)
    # A daemon lives until signalled; the 1 s timeout keeps signal handling responsive.
    while not stop.wait(timeout=1.0):
        pass
    log.info("stopping")
    stop_all(servers)
    node.stop()
    return EXIT_OK


def listen_all(cfg: DaemonConfig, app: App, log: JsonLog) -> list[ApiServer]:
    """One started server per --api-addr entry, all serving the same app.

    Raises:
        OSError: an address cannot be bound (servers already started are closed).
    """
    tls = server_tls_context(cfg.tls) if cfg.tls else None
    servers: list[ApiServer] = []
    try:
        for host, port in ((cfg.api_host, cfg.api_port), *cfg.extra_listen):
            servers.append(ApiServer(host, port, app, log, tls))
    except OSError:
        for server in servers:
            server.server_close()
        raise
    for server in servers:
        server.start()
    return servers


def stop_all(servers: list[ApiServer]) -> None:
    for server in servers:
        server.shutdown()
        server.server_close()
