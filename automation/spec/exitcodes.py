"""Exit codes of every `fba` command, as data.

The design fixes some of them (join 0/1/2/3, detect 0/1/2, health 0/1); the rest follow one
rule so operators can guess them: 3 is always "invalid arguments or configuration", except for
`detect` and `config validate`, whose 2 the design already froze. 70 (EX_SOFTWARE) is a bug in
`fba` itself, never a verdict on the cluster.

systemd's `SuccessExitStatus=` for each unit is derived from `success_for_systemd` below, and
the README table is rendered from `EXIT_CODES`; change a code here and both follow.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum


class Command(StrEnum):
    """The `fba` sub-commands whose exit codes are part of the contract."""

    CONFIG_VALIDATE = "config validate"
    CONFIG_SCHEMA = "config schema"
    DETECT = "detect"
    WAIT_HEALTHY = "wait-healthy"
    JOIN = "join"
    IAM_SETUP = "iam-setup"
    HEALTH_REPORT = "health-report"
    PREFLIGHT = "preflight"
    LEAVE = "leave"
    STATUS = "status"
    ANALYZE = "analyze"
    PROVISION = "provision"
    UNITS_RENDER = "units render"


class ExitCode(IntEnum):
    """Every number `fba` exits with. Several names share a number: meaning depends on the command."""

    OK = 0
    FAILED = 1
    ALREADY_DONE = 2
    INVALID = 3
    INTERNAL = 70

    # Aliases that read like the design document for the commands that use them.
    HEALTHY = 0
    UNHEALTHY = 1
    BOOTSTRAP = 0
    JOIN = 1
    DETECT_CONFIG_ERROR = 2
    CONFIG_INVALID = 2
    NOT_FINISHED = 2


@dataclass(frozen=True)
class ExitMeaning:
    code: int
    name: str
    meaning: str
    success_for_systemd: bool = False


_INVALID = ExitMeaning(
    3, "invalid", "invalid arguments or configuration, or a secret file others may read (nothing was changed)"
)
_INTERNAL = ExitMeaning(70, "internal", "a bug in fba; the message says where (nothing was changed)")


def _table(*rows: ExitMeaning, invalid: ExitMeaning | None = _INVALID) -> tuple[ExitMeaning, ...]:
    extra = (invalid,) if invalid is not None else ()
    return (*rows, *extra, _INTERNAL)


EXIT_CODES: dict[Command, tuple[ExitMeaning, ...]] = {
    Command.CONFIG_VALIDATE: _table(
        ExitMeaning(0, "valid", "the configuration is valid"),
        ExitMeaning(2, "invalid", "the configuration is invalid; one line per problem"),
        invalid=None,
    ),
    Command.CONFIG_SCHEMA: _table(ExitMeaning(0, "ok", "the JSON Schema was printed")),
    Command.DETECT: _table(
        ExitMeaning(0, "bootstrap", "this node should bootstrap a new cluster"),
        ExitMeaning(1, "join", "this node should join an existing cluster"),
        ExitMeaning(2, "config-error", "configuration error"),
        invalid=None,
    ),
    Command.WAIT_HEALTHY: _table(
        ExitMeaning(0, "healthy", "the service answered healthy"),
        ExitMeaning(1, "unhealthy", "timeout: the service never answered healthy"),
    ),
    Command.JOIN: _table(
        ExitMeaning(0, "joined", "joined (or bootstrapped) and the marker was written", True),
        ExitMeaning(1, "failed", "failed after the bounded attempts; the last log line names the cause"),
        ExitMeaning(2, "already-member", "already a member (HTTP 409, listed, or marker present)", True),
    ),
    Command.IAM_SETUP: _table(
        ExitMeaning(0, "initialized", "admin ensured, node token stored, marker written", True),
        ExitMeaning(1, "failed", "IAM unreachable or refused; the last log line names the cause"),
        ExitMeaning(2, "already-initialized", "the marker was already present; nothing done", True),
    ),
    Command.HEALTH_REPORT: _table(
        ExitMeaning(0, "healthy", "every service healthy and this node a member everywhere"),
        ExitMeaning(1, "degraded", "at least one check failed; the JSON summary says which"),
    ),
    Command.PREFLIGHT: _table(
        ExitMeaning(0, "ok", "every pre-flight check passed"),
        ExitMeaning(1, "failed", "at least one pre-flight check failed"),
    ),
    Command.LEAVE: _table(
        ExitMeaning(0, "removed", "the member was removed and the marker deleted"),
        ExitMeaning(1, "failed", "the leader could not be reached or refused"),
        ExitMeaning(2, "not-a-member", "the node was not a member; marker removed if present"),
    ),
    Command.STATUS: _table(
        ExitMeaning(0, "done", "every first-boot step is done"),
        ExitMeaning(1, "failed", "a step failed; the output names it and its cause"),
        ExitMeaning(2, "not-finished", "steps still pending or running (at --timeout)"),
    ),
    Command.ANALYZE: _table(
        ExitMeaning(0, "within-budget", "every step finished within its budget"),
        ExitMeaning(1, "over-budget", "a step is over budget or unfinished"),
    ),
    Command.PROVISION: _table(
        ExitMeaning(0, "provisioned", "secrets installed with mode 0600"),
        ExitMeaning(1, "failed", "a file could not be installed"),
    ),
    Command.UNITS_RENDER: _table(ExitMeaning(0, "ok", "the unit files were written")),
}


def meanings(command: Command) -> tuple[ExitMeaning, ...]:
    return EXIT_CODES[command]


def systemd_success_codes(command: Command) -> tuple[int, ...]:
    """Non-zero codes systemd must treat as success (`SuccessExitStatus=`)."""
    return tuple(m.code for m in EXIT_CODES[command] if m.success_for_systemd and m.code != 0)


def exit_table_markdown() -> str:
    """The README's exit-code table, rendered from `EXIT_CODES`."""
    lines = ["| command | code | name | meaning |", "|---|---|---|---|"]
    for command, rows in EXIT_CODES.items():
        for row in rows:
            lines.append(f"| `fba {command}` | {row.code} | {row.name} | {row.meaning} |")
    return "\n".join(lines) + "\n"
