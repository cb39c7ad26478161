"""Child processes with bounded stops: SIGTERM, a grace period, then SIGKILL.

Every QEMU (and helper) the harness starts ends through `stop_process`, so teardown has a
hard upper bound however the child behaves.
"""

from __future__ import annotations

import signal
import subprocess

__all__ = ["KILL_WAIT", "stop_process"]

KILL_WAIT = 5.0
"""Seconds to wait for a SIGKILLed child to be reaped before giving up on it."""


def stop_process(proc: subprocess.Popen[bytes], *, grace: float = 3.0, first: int = signal.SIGTERM) -> int | None:
    """Stop `proc`: send `first`, wait `grace` s, then SIGKILL. Returns its exit code.

    Returns None only if even SIGKILL did not reap it within `KILL_WAIT` (a D-state child);
    never blocks longer than `grace + KILL_WAIT`.
    """
    if proc.poll() is not None:
        return proc.returncode
    try:
        proc.send_signal(first)
        return proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass
    except ProcessLookupError:
        return proc.poll()
    try:
        proc.kill()
        return proc.wait(timeout=KILL_WAIT)
    except (subprocess.TimeoutExpired, ProcessLookupError):
        return proc.poll()
