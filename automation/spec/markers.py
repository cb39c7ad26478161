"""Marker files: where they live and what they are called.

The names are the design's (`.chainfire-initialized`, `.chainfire-joined`, ...). The format
(first line an ISO-8601 timestamp, optional second line `sha256:<hex of the first line>`) is
defined here so the node, the harness checks and the docs agree. A file holding only a
timestamp is valid: that is what the design's manual procedure (`date -Iseconds > marker`)
writes.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import PurePosixPath

DEFAULT_STATE_DIR = PurePosixPath("/var/lib/first-boot-automation")
STATE_DIR_MODE = 0o700
MARKER_MODE = 0o600
CHECKSUM_PREFIX = "sha256:"


class Service(StrEnum):
    CHAINFIRE = "chainfire"
    FLAREDB = "flaredb"
    IAM = "iam"


class Step(StrEnum):
    """What a marker records."""

    INITIALIZED = "initialized"  # bootstrap node: the cluster formed with us in it
    JOINED = "joined"  # join node: the leader added us and we are listed


JOIN_SERVICES: tuple[Service, ...] = (Service.CHAINFIRE, Service.FLAREDB)


def marker_name(service: Service, step: Step) -> str:
    return f".{service.value}-{step.value}"


def all_marker_names() -> tuple[str, ...]:
    """Every marker the automation can write, in design order."""
    names = [marker_name(s, step) for s in JOIN_SERVICES for step in (Step.INITIALIZED, Step.JOINED)]
    names.append(marker_name(Service.IAM, Step.INITIALIZED))
    return tuple(names)
