"""Reading unit state and journal lines from systemd, with deadlines.

Runs `systemctl show` and `journalctl` as subprocesses (argv lists, 5 s timeout each). The
runner is injectable so `fba status` and `fba analyze` are tested without systemd.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from typing import Any, Final

Runner = Callable[[Sequence[str]], str | None]

UNIT_PROPERTIES = (
    "ActiveState",
    "SubState",
    "Result",
    "ExecMainStatus",
    "ExecMainCode",
    "NRestarts",
    "ExecMainStartTimestampMonotonic",
    "ExecMainExitTimestampMonotonic",
    "ActiveEnterTimestampMonotonic",
    "InactiveExitTimestampMonotonic",
    "ExecMainExitTimestamp",
)


COMMAND_TIMEOUT_S = 5.0


def run_command(argv: Sequence[str], timeout: float = COMMAND_TIMEOUT_S) -> str | None:
    """stdout of a command, or None when it is missing, fails or takes over `timeout` seconds
    (bytes that are not UTF-8 read as U+FFFD).

    A missing command is the OSError of the spawn: no `shutil.which` first, whose import (with
    `bz2`, `lzma`, `fnmatch`) was ~2.5 ms of every `fba status` (bench/README.md)."""
    try:
        # Bytes that are not UTF-8 are replaced, never an error: `journalctl -o cat` writes a
        # message as it was logged, and any process in the unit's cgroup (a crash's stderr) can
        # log such bytes (break 9: `fba status` exited 70 on UnicodeDecodeError).
        done = subprocess.run(
            list(argv), capture_output=True, encoding="utf-8", errors="replace", timeout=timeout, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


class Systemd:
    """Asks systemd through `runner` (tests inject one).

    A plain class with a `Final` attribute rather than a frozen dataclass: `fba status` does not
    import `dataclasses` (docs/CONTRIBUTING.md, "The start-up path")."""

    __slots__ = ("runner",)

    def __init__(self, runner: Runner = run_command) -> None:
        self.runner: Final = runner

    def available(self) -> bool:
        return self.runner(["systemctl", "--version"]) is not None

    def show(self, unit: str | None, properties: Sequence[str]) -> dict[str, str]:
        argv = ["systemctl", "show", "--property", ",".join(properties)]
        if unit:
            argv.append(unit)
        out = self.runner(argv)
        if out is None:
            return {}
        props: dict[str, str] = {}
        for line in out.splitlines():
            key, sep, value = line.partition("=")
            if sep:
                props[key] = value
        return props

    def unit(self, unit: str) -> dict[str, str]:
        return self.show(unit, UNIT_PROPERTIES)

    def units(self, units: Sequence[str]) -> dict[str, dict[str, str]]:
        """`unit()` of several units from one `systemctl show` (one process, not one per unit:
        on a TCG guest each process start costs a noticeable part of `fba status`)."""
        out = self.runner(["systemctl", "show", "--property", ",".join(("Id", *UNIT_PROPERTIES)), *units])
        if out is None:  # no systemd to ask: asking once per unit would fail the same way
            return {}
        found: dict[str, dict[str, str]] = {}
        for block in out.split("\n\n"):  # systemctl separates the units by an empty line
            props = dict(line.partition("=")[::2] for line in block.splitlines() if "=" in line)
            if props.get("Id") in units:
                found[props.pop("Id")] = props
        # A unit the batch did not name (an alias answers with its real Id): ask for it alone.
        return {name: found[name] if name in found else self.unit(name) for name in units}

    def userspace_start_monotonic_us(self) -> int | None:
        value = self.show(None, ("UserspaceTimestampMonotonic",)).get("UserspaceTimestampMonotonic")
        return int(value) if value and value.isdigit() else None

    def journal_json(self, unit: str, lines: int = 50, boot: bool = True) -> list[dict[str, Any]]:
        """The unit's fba JSON lines of this boot, parsed; non-JSON lines are skipped."""
        import json  # only for a failed unit's cause: `fba status` of a healthy node never parses one

        argv = ["journalctl", "--no-pager", "-o", "cat", "-n", str(lines), "-u", unit]
        if boot:
            argv.insert(2, "-b")
        out = self.runner(argv) or ""
        records = []
        for line in out.splitlines():
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict):
                records.append(value)
        return records


def last_cause(records: list[dict[str, Any]]) -> str | None:
    """The `cause` of the last ERROR line, else its message."""
    for record in reversed(records):
        if record.get("level") == "ERROR":
            context = record.get("context")
            cause = context.get("cause") if isinstance(context, dict) else None
            return str(cause or record.get("message"))
    return None
