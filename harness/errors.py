"""Errors of the harness, one root.

    HarnessError                   anything the harness raises on purpose
    ├── InfrastructureError        the host could not do its part (QEMU, netns, image build)
    ├── WaitTimeout                a bounded wait ran out; says what it waited for and saw
    └── CheckFailed                the system under test broke a promise (AssertionError too)

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
