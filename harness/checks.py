"""What the design promises, checked on a running node against `automation.spec`.

Every check reads the guest (over SSH) and raises `CheckFailed` with a message that names the
node, what was expected and what was seen. Secrets are compared, never printed.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from automation.spec.commands import systemd_success_codes
from automation.spec.markers import (
    DEFAULT_STATE_DIR,
    JOIN_SERVICES,
    MarkerFormatError,
    Service,
    Step,
    marker_name,
    parse_marker,
)
from automation.spec.units import AUTOMATION_UNITS, EXTERNAL_UNITS, UnitSpec
from harness.errors import CheckFailed

LOG_FIELDS = ("timestamp", "level", "service", "operation", "message")


class GuestNode(Protocol):
    """The verbs checks need (a `harness.machine.node.Node` fits)."""

    @property
    def name(self) -> str: ...
    def execute(
        self, command: str, check_return: bool = True, check_output: bool = True, timeout: float | None = 900
    ) -> tuple[int, str]: ...
    def succeed(self, *commands: str, timeout: float | None = None) -> str: ...
    def unit_exit_status(self, unit: str) -> tuple[int, str]: ...
    def unit_timestamps(self, unit: str) -> dict[str, int]: ...
    def get_unit_property(self, unit: str, property: str, user: str | None = None) -> str: ...
    def get_console_log(self) -> str: ...


def expected_markers(bootstrap: bool) -> list[str]:
    step = Step.INITIALIZED if bootstrap else Step.JOINED
    return [marker_name(s, step) for s in JOIN_SERVICES] + [marker_name(Service.IAM, Step.INITIALIZED)]


def check_markers(node: GuestNode, *, bootstrap: bool, state_dir: str = str(DEFAULT_STATE_DIR)) -> dict[str, str]:
    """Each expected marker: ISO-8601 first line, matching checksum, identity lines (for whom it
    was written), mode 0600, dir 0700. Returns each marker's first line."""
    found: dict[str, str] = {}
    mode = node.succeed(f"stat -c %a {shlex.quote(state_dir)}").strip()
    if mode != "700":
        raise CheckFailed(f"{node.name}: {state_dir} has mode {mode}, expected 700")
    for name in expected_markers(bootstrap):
        path = f"{state_dir}/{name}"
        rc, out = node.execute(f"stat -c %a {shlex.quote(path)} && cat {shlex.quote(path)}", timeout=30)
        if rc != 0:
            listing = node.execute(f"ls -la {shlex.quote(state_dir)}", timeout=30)[1]
            raise CheckFailed(f"{node.name}: marker {path} missing; the state dir holds:\n{listing}")
        lines = out.splitlines()
        if lines[0].strip() != "600":
            raise CheckFailed(f"{node.name}: marker {path} has mode {lines[0]}, expected 600")
        try:
            content = parse_marker("\n".join(lines[1:]))
        except MarkerFormatError as err:
            raise CheckFailed(f"{node.name}: marker {path} is not a valid marker ({err}): {lines[1:4]}") from None
        if not content.checksummed or content.identity is None:
            raise CheckFailed(
                f"{node.name}: marker {path} says nothing about whom it was written for "
                f"(no checksum or identity lines): {lines[1:]}"
            )
        found[name] = content.timestamp_line
    return found


def check_unit_exits(node: GuestNode, units: Iterable[UnitSpec] = AUTOMATION_UNITS) -> dict[str, tuple[int, str]]:
    """Each automation unit ran and exited with a code systemd counts as success."""
    seen: dict[str, tuple[int, str]] = {}
    for unit in units:
        status, result = node.unit_exit_status(unit.name)
        seen[unit.name] = (status, result)
        allowed = {0, *systemd_success_codes(unit.exit_command)}
        if result != "success" or status not in allowed:
            raise CheckFailed(
                f"{node.name}: {unit.name} ended with status {status}, result {result!r}; expected one of "
                f"{sorted(allowed)} and 'success'\n{_tail_journal(node, unit.name)}"
            )
        timestamps = node.unit_timestamps(unit.name)
        if not timestamps.get("ExecMainStartTimestampMonotonic"):
            raise CheckFailed(f"{node.name}: {unit.name} never started")
    return seen


def fba_records(node: GuestNode, unit: str, timeout: float = 60) -> list[dict[str, Any]]:
    """The unit's stdout lines from this boot; each must be one fba JSON object."""
    rc, out = node.execute(
        f"journalctl -b -u {shlex.quote(unit)} -o json --no-pager _TRANSPORT=stdout", timeout=timeout
    )
    records = []
    for line in out.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        message = entry.get("MESSAGE")
        if isinstance(message, list):  # journald stores non-UTF-8 text as a byte list
            message = bytes(message).decode("utf-8", "replace")
        if not isinstance(message, str):
            continue
        try:
            record = json.loads(message)
        except ValueError:
            raise CheckFailed(f"{node.name}: {unit} wrote a line that is not JSON: {message[:200]!r}") from None
        missing = [f for f in LOG_FIELDS if f not in record]
        if missing:
            raise CheckFailed(f"{node.name}: {unit} log line lacks {missing}: {message[:200]}")
        records.append(record)
    return records


def check_journal(node: GuestNode, expected: dict[str, list[str]]) -> dict[str, list[dict[str, Any]]]:
    """Every fba line parses; each unit logged each expected message (substring) at least once."""
    logs: dict[str, list[dict[str, Any]]] = {}
    for unit, messages in expected.items():
        records = fba_records(node, unit)
        logs[unit] = records
        if not records:
            raise CheckFailed(f"{node.name}: {unit} wrote no JSON log line to the journal")
        for wanted in messages:
            if not any(wanted in str(r.get("message")) for r in records):
                seen = [r.get("message") for r in records][-10:]
                raise CheckFailed(f"{node.name}: {unit} never logged {wanted!r}; last messages: {seen}")
    return logs


def secrets_of(node: GuestNode, credentials_path: str) -> list[str]:
    """The secrets this node generated (IAM admin password, node token)."""
    rc, out = node.execute(f"cat {shlex.quote(credentials_path)}", timeout=30)
    if rc != 0:
        return []
    try:
        data = json.loads(out)
    except ValueError:
        return []
    return [v for k, v in data.items() if k in ("admin_password", "node_token") and isinstance(v, str) and v]


def check_no_secrets(node: GuestNode, secrets: Iterable[str]) -> None:
    """No secret in this boot's journal or the console log. Reports which kind, never the value."""
    wanted = [s for s in secrets if len(s) >= 8]
    journal = node.execute("journalctl -b -o cat --no-pager", timeout=120)[1]
    console = node.get_console_log()
    for index, secret in enumerate(wanted):
        for where, text in (("journal", journal), ("console log", console)):
            if secret in text:
                raise CheckFailed(f"{node.name}: secret #{index} ({len(secret)} chars) appears in the {where}")


@dataclass(frozen=True)
class UnitTimes:
    unit: str
    started_s: float | None  # seconds since userspace start
    active_s: float | None
    exited_s: float | None


def userspace_start_us(node: GuestNode) -> int:
    value = node.succeed("systemctl show --property=UserspaceTimestampMonotonic --value").strip()
    return int(value) if value.isdigit() else 0


def unit_times(node: GuestNode, units: Iterable[str]) -> dict[str, UnitTimes]:
    origin = userspace_start_us(node)

    def rel(us: int) -> float | None:
        return (us - origin) / 1e6 if us else None

    out = {}
    for unit in units:
        ts = node.unit_timestamps(unit)
        started = ts.get("ExecMainStartTimestampMonotonic") or ts.get("InactiveExitTimestampMonotonic", 0)
        out[unit] = UnitTimes(
            unit,
            rel(started),
            rel(ts.get("ActiveEnterTimestampMonotonic", 0)),
            rel(ts.get("ExecMainExitTimestampMonotonic", 0)),
        )
    return out


def check_ordering(node: GuestNode) -> list[str]:
    """systemd applied the unit graph: declared dependencies are present, and every After= was
    honoured (the other unit was up before ours started)."""
    applied: list[str] = []
    times = unit_times(node, [*(u.name for u in AUTOMATION_UNITS), *EXTERNAL_UNITS])
    for unit in AUTOMATION_UNITS:
        for prop, wanted in (
            ("After", unit.after),
            ("Requires", unit.requires),
            ("Wants", unit.wants),
            ("Before", unit.before),
        ):
            actual = set(node.get_unit_property(unit.name, prop).split())
            missing = [w for w in wanted if w not in actual]
            if missing:
                raise CheckFailed(
                    f"{node.name}: {unit.name} lacks {prop}={' '.join(missing)} (systemd has: {sorted(actual)})"
                )
        mine = times[unit.name].started_s
        for before in unit.after:
            other = times.get(before)
            ready = other.active_s if other else None
            if mine is None or ready is None:
                continue
            if ready > mine + 1e-3:
                raise CheckFailed(
                    f"{node.name}: {unit.name} started at T+{mine:.2f}s before {before} was up (T+{ready:.2f}s)"
                )
            applied.append(f"{before} (T+{ready:.2f}s) -> {unit.name} (T+{mine:.2f}s)")
    return applied


def _tail_journal(node: GuestNode, unit: str, lines: int = 30) -> str:
    return node.execute(f"journalctl -b -u {shlex.quote(unit)} -n {lines} -o cat --no-pager", timeout=30)[1]
