"""Exit codes of every `fba` command, as data.

The design fixes some of them (join 0/1/2/3, detect 0/1/2, health 0/1); the rest follow one
rule so operators can guess them: 3 is always "invalid arguments or configuration", except for
`detect` and `config validate`, whose 2 the design already froze. 70 (EX_SOFTWARE) is a bug in
`fba` itself, never a verdict on the cluster. 130 (`SIGNALS`) is the one code any command may
exit with whatever its own table says: it was interrupted.

Which command exits with which code is in the table of commands (`automation.spec.commands`):
systemd's `SuccessExitStatus=` for each unit and the README's table are derived from it.
"""

from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple


class ExitCode(IntEnum):
    """Every number `fba` exits with. Several names share a number: meaning depends on the command."""

    OK = 0
    FAILED = 1
    ALREADY_DONE = 2
    INVALID = 3
    INTERNAL = 70
    INTERRUPTED = 130  # 128 + SIGINT, the shell's convention; any command (`SIGNALS`)

    # Aliases that read like the design document for the commands that use them.
    HEALTHY = 0
    UNHEALTHY = 1
    BOOTSTRAP = 0
    JOIN = 1
    DETECT_CONFIG_ERROR = 2
    CONFIG_INVALID = 2
    NOT_FINISHED = 2


# A NamedTuple, not a frozen dataclass: the table of commands builds these on every `fba` start,
# `--help` included, and that path does not import `dataclasses` (docs/CONTRIBUTING.md, "The start-up path").
class ExitMeaning(NamedTuple):
    code: int
    name: str
    meaning: str
    success_for_systemd: bool = False


_INVALID = ExitMeaning(
    3, "invalid", "invalid arguments or configuration, or a secret file others may read (nothing was changed)"
)
_INTERNAL = ExitMeaning(70, "internal", "a bug in fba; the message says where (nothing was changed)")


def table(*rows: ExitMeaning, invalid: ExitMeaning | None = _INVALID) -> tuple[ExitMeaning, ...]:
    """A command's exit codes: its own rows, then "invalid" (3, unless given otherwise) and 70."""
    extra = (invalid,) if invalid is not None else ()
    return (*rows, *extra, _INTERNAL)


# Exits that belong to no command's table because any command may end so: a signal.
INTERRUPTED_LINE = "fba: interrupted"
SIGNALS = (
    ExitMeaning(
        130,
        "interrupted",
        f"SIGINT (Ctrl-C): `{INTERRUPTED_LINE}` on stderr; a file fba was writing is whole or not there "
        "(files are replaced atomically), but a request already sent may have taken effect",
    ),
)
SIGTERM_NOTE = (
    "SIGTERM (systemd stopping a unit, or its start timeout) is not caught: fba is killed by the signal "
    "(exit status 143 in a shell, `status=15/TERM` in the journal), without a log line of its own; "
    "as with SIGINT, no file is left half-written."
)
