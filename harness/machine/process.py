"""Child processes with bounded stops (SIGTERM, a grace period, then SIGKILL), tied to their parent.

Every QEMU (and helper) the harness starts ends through `stop_process`, so teardown has a
hard upper bound however the child behaves.

A parent that is SIGKILLed (a CI job's hard timeout, an OOM kill, `kill -9` by hand) runs no
teardown, and its children, each in its own session, used to run on: a killed test left its
`cluster-test` run, that run its pytest child, and that child its QEMU processes, for as long
as their own deadlines allowed. `die_with_parent` asks the kernel to signal the child when its
parent goes (Linux `PR_SET_PDEATHSIG`, prctl(2)), so every level tears down as if interrupted.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import threading
from collections.abc import Callable

__all__ = ["KILL_WAIT", "die_with_parent", "stop_process"]

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>

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


def die_with_parent(signum: int = signal.SIGTERM) -> Callable[[], None] | None:
    """A `preexec_fn` for `subprocess.Popen`: the child gets `signum` when this process dies.

    SIGTERM (the default) lets the child tear down as on any stop: QEMU exits, a pytest run of
    the harness tears its nodes down and writes its reports. The setting survives `execve` of
    `ip netns exec`/`nsenter` (neither is set-user-ID) into the real program.

    Returns None (no tie) off the main thread: the kernel signals the child when the *thread*
    that forked it ends (prctl(2)), and a worker thread ends long before the run does.
    """
    if threading.current_thread() is not threading.main_thread():
        return None
    # Resolved here, in the parent: the child between fork and exec should only make the call.
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def tie() -> None:
        if prctl(_PR_SET_PDEATHSIG, signum, 0, 0, 0) != 0:
            os._exit(126)  # never run a child we could not tie (Linux only; prctl cannot fail here)
        if os.getppid() != parent:  # the parent died before the tie: act as if it died after
            os.kill(os.getpid(), signum)

    return tie
