"""Errors of the harness, one root.

    HarnessError                   anything the harness raises on purpose
    ├── InfrastructureError        the host could not do its part (QEMU, netns, image build)
    ├── WaitTimeout                a bounded wait ran out; says what it waited for and saw
    ├── CheckFailed                the system under test broke a promise (AssertionError too)
    └── UsageError                 the caller asked for something that cannot work (ValueError too)
        └── UnsupportedVerb        a driver verb or import this harness does not provide

The split matters to the CLI: a failed check, a timeout and an infrastructure error end
with different exit codes, so CI can tell "the product is broken" from "the runner is".
"""

from __future__ import annotations


class HarnessError(Exception):
    """Root of every error the harness raises on purpose."""


class InfrastructureError(HarnessError):
    """The host could not provide something: QEMU, a namespace, an image, a free port."""


class WaitTimeout(HarnessError):
    """A bounded wait expired. The message names what was awaited and what was last seen."""


class CheckFailed(HarnessError, AssertionError):
    """The system under test did not do what the design promises."""


class UsageError(HarnessError, ValueError):
    """An argument the harness cannot work with (a negative duration, overlapping partition
    groups, an unknown cache kind): the calling test or command line must change. Exit 4.

    Also a `ValueError`, so callers that validated input with `except ValueError` still do.
    """


class TeardownError(InfrastructureError):
    """Parts of a teardown failed; every other part was still done. `failures` has one line
    per failed part, `label: error`."""

    def __init__(self, what: str, failures: list[str]) -> None:
        super().__init__(f"{what}: {'; '.join(failures)}")
        self.failures = failures


class KvmUnavailable(InfrastructureError):
    """KVM was required (`require_kvm=True`) but the probe guest made no progress under it."""


class CommandTimeout(WaitTimeout):
    """A guest command ran past its deadline; its channel was closed, partial output kept.

    `stdout` and `stderr` hold what arrived before the deadline, so a wait that gives up
    can still show the last lines the command printed.
    """

    def __init__(self, message: str, *, stdout: str = "", stderr: str = "") -> None:
        super().__init__(message)
        self.stdout = stdout
        self.stderr = stderr


class CommandFailed(CheckFailed):
    """A guest command the test required to succeed (or to fail) did the opposite."""


class NodeStateError(HarnessError):
    """A verb was called in a state where it cannot work (e.g. QMP on a stopped node)."""


class GuestUnreachable(InfrastructureError):
    """The guest's SSH connection is closed or broke (crash, reboot); waits retry on it."""


class ConsoleFatal(InfrastructureError):
    """The serial console showed a line after which the boot cannot succeed (panic, ...)."""


class Interrupted(KeyboardInterrupt):
    """The run was stopped by SIGINT or SIGTERM (exit 130); `signal_name` says which.

    A `KeyboardInterrupt`, not a `HarnessError`: everything that already lets Ctrl-C through
    (pytest, `except Exception`) treats a SIGTERM the same way, so the reports still get written
    and the teardowns still run on the way out.
    """

    def __init__(self, signal_name: str = "SIGINT") -> None:
        super().__init__(signal_name)
        self.signal_name = signal_name


def interrupt_signal(err: BaseException) -> str:
    """The signal an interrupt came from: `Interrupted.signal_name`, else SIGINT (Ctrl-C)."""
    return err.signal_name if isinstance(err, Interrupted) else "SIGINT"


class UnsupportedVerb(UsageError):
    """A test-driver verb (or `import test_driver...`) this harness does not provide.

    The message is one line naming the verb and what to use instead; `cluster-test --script`
    ends with exit 4 (usage error) on it, before booting when the script names it literally.
    """
