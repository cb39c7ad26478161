"""What every step needs, built once per command run by the CLI and passed down."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from automation.discovery import TermFloor
from automation.failpoints import Failpoints
from automation.http import HttpClient
from automation.log import Logger
from automation.markers import MarkerStore
from automation.policy import SYSTEM_CLOCK, Clock
from automation.spec.config import ClusterConfig


@dataclass(frozen=True)
class Context:
    config: ClusterConfig
    log: Logger
    http: HttpClient
    markers: MarkerStore
    failpoints: Failpoints
    clock: Clock = SYSTEM_CLOCK
    config_path: Path = Path("/etc/nixos/secrets/cluster-config.json")
    environment: Mapping[str, str] = field(default_factory=dict)
    # The highest Raft term each service showed this run: no list of an older one is proof
    # (`discovery.TermFloor`); shared by every leader finder of the run.
    terms: TermFloor = field(default_factory=TermFloor)
