"""Errors of the node automation, one root.

    FbaError                         carries the ExitCode the CLI exits with
    ├── ConfigError                  the config file is missing, unreadable or invalid (3)
    ├── UsageError                   bad command-line arguments (3)
    ├── MarkerError                  a marker, the credentials or another state file could not be written (1)
    ├── StepBusy                     another run of the same step held its lock until the deadline (1)
    ├── StepFailed                   a step gave up; `cause` (a Cause) names why (1)
    │   ├── HealthTimeout            the local service never answered healthy
    │   └── JoinFailed               the join ran out of attempts or deadline
    └── MembershipConflict           our id is listed with another Raft address (2 for join)

Messages read "what failed: what we saw; what to do". They never contain a secret: callers
pass secrets only as `SecretStr` and never format them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from automation.spec.exitcodes import ExitCode

if TYPE_CHECKING:  # only an annotation: every `fba` start imports this module, not the table of causes
    from automation.spec.causes import Cause


class FbaError(Exception):
    exit_code: ExitCode = ExitCode.FAILED
    # True once the raiser logged its own final line (with the cause); the CLI then adds none.
    logged: bool = False

    def __init__(self, message: str, *, exit_code: ExitCode | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else type(self).__name__


class ConfigError(FbaError):
    exit_code = ExitCode.INVALID

    def __init__(
        self,
        message: str,
        *,
        problems: tuple[str, ...] = (),
        origins: tuple[str | None, ...] = (),
        exit_code: ExitCode | None = None,
    ) -> None:
        super().__init__(message, exit_code=exit_code)
        self.problems = problems or (message,)
        # Where each problem comes from when it is not the config file (an FBA_* override):
        # `config validate` prefixes each line with it rather than the file's path.
        self.origins = origins + (None,) * (len(self.problems) - len(origins))


class UsageError(FbaError):
    exit_code = ExitCode.INVALID


class MarkerError(FbaError):
    """A write of what a step records failed (disk full, read-only, a directory in the way).
    It carries a cause like `StepFailed`: the README promises one on a failed step's last line,
    and a disk-full marker write after a verified join ended without it."""

    exit_code = ExitCode.FAILED

    @property
    def cause(self) -> Cause:
        from automation.spec.causes import Cause  # here: see the TYPE_CHECKING import above

        return Cause.STATE_NOT_WRITTEN


class StepBusy(FbaError):
    """Another `fba` run held this step's lock until the deadline (`automation.steplock`)."""

    exit_code = ExitCode.FAILED

    @property
    def cause(self) -> Cause:
        from automation.spec.causes import Cause  # here: see the TYPE_CHECKING import above

        return Cause.STEP_BUSY


class StepFailed(FbaError):
    """A step gave up. `cause` (automation.spec.causes) is logged as the last line's `cause`."""

    exit_code = ExitCode.FAILED

    def __init__(self, message: str, *, cause: Cause, exit_code: ExitCode | None = None) -> None:
        super().__init__(message, exit_code=exit_code)
        self.cause = cause


class HealthTimeout(StepFailed):
    logged = True


class JoinFailed(StepFailed):
    logged = True


class MembershipConflict(FbaError):
    """Exits 3, not 2: 2 is success to systemd, and a conflict must stop the boot for a human."""

    exit_code = ExitCode.INVALID
    logged = True
