"""Marker files: where they live and what they are called.

The names are the design's (`.chainfire-initialized`, `.chainfire-joined`, ...). The format is
defined here so the node, the harness checks and the docs agree:

    2026-11-30T23:00:00+00:00          line 1: ISO-8601 timestamp (the design's)
    sha256:<hex>                       line 2: checksum of line 1 and the identity lines
    node_id=node04                     identity: for whom the marker was written
    cluster_name=plasma
    raft_addr=10.0.0.4:2380

The checksum is sha256 of every line except itself, joined by "\n", so a marker without
identity lines (fba before identities) has the same checksum it always had: sha256 of line 1.
A file holding only a timestamp is what the design's manual procedure
(`date -Iseconds > marker`) writes; it says nothing about whom it was written for. A cloned
disk carries its first owner's markers: the identity lines are how a node tells them apart.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from datetime import datetime

DEFAULT_STATE_DIR = PurePosixPath("/var/lib/first-boot-automation")
STATE_DIR_MODE = 0o700
MARKER_MODE = 0o600
CHECKSUM_PREFIX = "sha256:"
# What a node id may be: the config's `node_id` and every id fba takes from elsewhere (`fba
# leave --member`). Defined here, where identities live, so the CLI checks an id without
# loading the config model; its characters are all safe in a URL path segment.
NODE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"


def is_node_id(text: str) -> bool:
    """Whether `text` is a node id. Python's `$` also matches before a final newline, so
    `re.match(NODE_ID_PATTERN, "node02\\n")` accepted it and `leave` sent `node02%0A`:
    every check of input against a pattern uses `fullmatch`. (pydantic's `pattern=` runs
    Rust's regex, whose `$` is the end of the text: the config's fields were not affected.)"""
    import re  # here, not at the top: `fba status` imports this module and matches no id

    return re.fullmatch(NODE_ID_PATTERN, text) is not None


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


def leaving_name(name: str) -> str:
    """Where `fba leave` sets marker `name` aside before its DELETE (`automation.leave`): a marker
    is trusted without a request, so none may stay in place while the member may be gone. The
    join does not read it: it re-reads the leader's list and writes its marker again."""
    return f"{name}.leaving"


def foreign_name(name: str) -> str:
    """Where a marker that names another node (or nobody) is set aside once the leader's settled
    list refutes it (`automation.markertrust`): kept for the operator, never trusted. In place it
    satisfied every reader that looks for presence (`--require-joined`, `status`) after the join
    itself had refuted it (break 10, G5)."""
    return f"{name}.foreign"


def lock_name(service: Service) -> str:
    """The lock file of the steps that write `service`'s markers or secrets
    (`automation.steplock`); never a marker, never removed."""
    return f".{service.value}.lock"


def all_marker_names() -> tuple[str, ...]:
    """Every marker the automation can write, in design order."""
    names = [marker_name(s, step) for s in JOIN_SERVICES for step in (Step.INITIALIZED, Step.JOINED)]
    names.append(marker_name(Service.IAM, Step.INITIALIZED))
    return tuple(names)


IDENTITY_KEYS = ("node_id", "cluster_name", "raft_addr")


# NamedTuples, not frozen dataclasses: `fba status` reads markers, and that path does not import
# `dataclasses` (docs/CONTRIBUTING.md, "The start-up path").
class MarkerIdentity(NamedTuple):
    """For whom a marker was written."""

    node_id: str
    cluster_name: str
    raft_addr: str

    def lines(self) -> list[str]:
        return [f"{key}={getattr(self, key)}" for key in IDENTITY_KEYS]

    def differences(self, other: MarkerIdentity) -> list[str]:
        """`key: theirs != ours` for each field that differs (empty: the same node)."""
        return [
            f"{key} {getattr(other, key)} (this node: {getattr(self, key)})"
            for key in IDENTITY_KEYS
            if getattr(self, key) != getattr(other, key)
        ]

    def describe(self) -> str:
        return f"{self.node_id} of cluster {self.cluster_name} ({self.raft_addr})"


class MarkerContent(NamedTuple):
    """A marker's text, parsed. `checksummed` is False for the manual timestamp-only form."""

    timestamp_line: str
    timestamp: datetime
    checksummed: bool
    identity: MarkerIdentity | None


class MarkerFormatError(ValueError):
    """The text is not a marker (empty, no timestamp, bad checksum, odd lines)."""


def marker_checksum(lines: list[str]) -> str:
    """The checksum line for the given timestamp and identity lines (in file order)."""
    import hashlib  # here, not at the top: `fba --help` and `status` without markers never hash

    return CHECKSUM_PREFIX + hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()


def render_marker(timestamp_line: str, identity: MarkerIdentity | None) -> str:
    extra = identity.lines() if identity else []
    return "\n".join([timestamp_line, marker_checksum([timestamp_line, *extra]), *extra]) + "\n"


def _quoted_if_dated(line: str) -> str:
    """The line quoted (": 'line'") when it looks like a date gone wrong (a hand-written
    marker's typo, worth showing), else how long it is. Whatever else a marker path holds is not quoted: it may be
    another file's content (a link or a hard link to the bootstrap token or the config), and
    `fba status` printed its first line into tickets and logs (break 11, H8)."""
    import re  # here, not at the top: only a marker that is not one needs it

    if len(line) <= 40 and re.fullmatch(r"\d{4}-\d{2}-\d{2}(?:[T ][0-9:.,+\-Z ]*)?", line):
        return f": {line!r}"
    return f" ({len(line)} characters, not quoted: it may be another file's content)"


def parse_marker(text: str) -> MarkerContent:
    """Parse a marker's text; raises MarkerFormatError naming what is wrong."""
    from datetime import datetime  # here, not at the top: every `fba` start imports this module

    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        raise MarkerFormatError("empty")
    try:
        timestamp = datetime.fromisoformat(lines[0])
    except ValueError:
        raise MarkerFormatError(f"first line is not an ISO-8601 timestamp{_quoted_if_dated(lines[0])}") from None
    if len(lines) == 1:
        return MarkerContent(lines[0], timestamp, checksummed=False, identity=None)
    extra = lines[2:]
    if lines[1] != marker_checksum([lines[0], *extra]):
        raise MarkerFormatError("checksum does not match the timestamp and identity lines")
    if not extra:
        return MarkerContent(lines[0], timestamp, checksummed=True, identity=None)
    fields = dict(line.partition("=")[::2] for line in extra)
    if sorted(fields) != sorted(IDENTITY_KEYS) or len(extra) != len(IDENTITY_KEYS) or not all(fields.values()):
        raise MarkerFormatError(f"identity lines must be {', '.join(k + '=...' for k in IDENTITY_KEYS)}")
    identity = MarkerIdentity(**{key: fields[key] for key in IDENTITY_KEYS})
    return MarkerContent(lines[0], timestamp, checksummed=True, identity=identity)
