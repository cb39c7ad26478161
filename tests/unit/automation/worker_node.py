"""A joining worker node's config for unit tests, `node04` at 10.0.0.4, and a `LeaderFinder`
for its chainfire (shared by the testers' findings and the peer-value tests)."""

from __future__ import annotations

import io
import json
from typing import Any

from automation.configfile import parse
from automation.discovery import LeaderFinder
from automation.log import Logger
from automation.spec.markers import Service

ME, ADDR = "node04", "10.0.0.4:2380"


def config(**extra: Any) -> Any:
    """The parsed config; `extra` replaces or adds top-level keys."""
    data: dict[str, Any] = {
        "node_id": ME,
        "node_role": "worker",
        "bootstrap": False,
        "cluster_name": "c1.example",
        "leader_url": "http://10.0.0.1:2379",
        "raft_addr": ADDR,
    }
    data.update(extra)
    return parse(json.dumps(data).encode())


def finder(**extra: Any) -> LeaderFinder:
    return LeaderFinder(config(**extra), Service.CHAINFIRE, Logger(stream=io.StringIO()))
