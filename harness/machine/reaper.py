"""Last-resort teardown: everything the harness starts registers here, and SIGINT, SIGTERM
and interpreter exit tear it all down, newest first (nodes before their network).

A module-level registry is the one global we keep on purpose: signal handlers and atexit
have no other way to find what must be stopped. The handlers chain to the previous ones
(pytest's, the CLI's); with no previous handler the process then dies by the same signal.

A second signal while a teardown runs (Ctrl-C pressed twice; `cluster-test` forwarding a
SIGINT the run also got directly) waits for the teardown to finish instead of interrupting
it: interrupted, it left QEMU processes and the namespace behind. Teardowns are taken off the
registry one at a time, so whatever an exception still cuts short stays registered for atexit.

`Teardown` is how each owner (node, fabric) takes its own pieces down: every step runs even
when one before it failed, and the failures are raised together at the end.

`interrupt_on_signals()` makes SIGINT and SIGTERM raise `Interrupted` (after the teardown, when
the reaper's handlers are installed): a process that must write its reports on the way out
(`cluster-test --script`, the pytest run of the scenarios) calls it first.
"""

from __future__ import annotations

import atexit
import itertools
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from harness.errors import Interrupted, TeardownError

__all__ = ["Teardown", "chained_handler", "interrupt_on_signals", "register", "teardown_all", "unregister"]

_LIVE: dict[int, tuple[str, Callable[[], None]]] = {}
_LOCK = threading.Lock()
_IDS = itertools.count(1)
_INSTALLED: list[bool] = []
_TEARING_DOWN: list[bool] = []  # non-empty while a signal handler's teardown runs


def register(label: str, teardown: Callable[[], None]) -> int:
    """Register an idempotent `teardown`; returns a token for `unregister`."""
    _install_handlers()
    with _LOCK:
        token = next(_IDS)
        _LIVE[token] = (label, teardown)
    return token


def unregister(token: int) -> None:
    """Forget a registration (after a normal teardown). Unknown tokens are ignored."""
    with _LOCK:
        _LIVE.pop(token, None)


def teardown_all() -> list[str]:
    """Run every registered teardown, newest first; returns their labels.

    A failing teardown does not stop the others. Each is taken off the registry just before it
    runs: if a BaseException (KeyboardInterrupt) ends this call, the rest stay registered.
    """
    done: list[str] = []
    while True:
        with _LOCK:
            if not _LIVE:
                return done
            token = max(_LIVE)
            label, teardown = _LIVE.pop(token)
        try:
            teardown()
        except Exception:  # keep going: the next teardown may still free a namespace
            pass
        done.append(label)


class Teardown:
    """The steps of one owner's teardown, each run even when an earlier one failed: a teardown
    that stops at its first error leaves QEMU processes and namespaces behind.

        steps = Teardown("node01: stop")
        steps.run("SSH session", ssh.close)
        steps.run("QEMU process", stop_qemu)
        steps.finish()  # raises TeardownError naming every step that failed, if any did
    """

    def __init__(self, what: str) -> None:
        self.what = what
        self.failures: list[str] = []

    def run(self, label: str, step: Callable[[], object]) -> None:
        """Run `step`; an `Exception` is noted under `label` (an interrupt still ends the
        teardown at once, as in `teardown_all`: what it cuts short stays registered)."""
        try:
            step()
        except Exception as err:  # noted: the next step may still free something
            self.failures.append(f"{label}: {err or type(err).__name__}")

    def finish(self) -> None:
        """Raise the failures together, once every step has run.

        Raises:
            TeardownError: one or more steps failed.
        """
        if self.failures:
            raise TeardownError(self.what, self.failures)


def chained_handler(previous: Any) -> Callable[[int, FrameType | None], None]:
    """A handler for SIGINT/SIGTERM: tear everything down, then what `previous` would do.

    A signal that arrives while the teardown runs is held until it has finished, then acted on
    once (by the outer call), so the teardown is never cut short.
    """

    def handler(num: int, frame: FrameType | None) -> None:
        if _TEARING_DOWN:
            return  # the outer handler is stopping everything and then acts on its own signal
        _TEARING_DOWN.append(True)
        try:
            teardown_all()
        finally:
            _TEARING_DOWN.clear()
        if callable(previous):
            previous(num, frame)
        elif previous == signal.SIG_IGN:
            return
        else:  # SIG_DFL: die by the same signal, as whoever sent it expects
            signal.signal(num, signal.SIG_DFL)
            signal.raise_signal(num)

    return handler


def interrupt_on_signals() -> None:
    """Make SIGINT and SIGTERM raise `Interrupted(signal name)` in the main thread.

    Without it SIGTERM kills the process by default, before any report is written. When the
    reaper's handlers are already installed they stay first (teardown, then the raise); when
    they are installed later they chain to this. No-op outside the main thread.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, chained_handler(_raise_interrupted) if _INSTALLED else _raise_interrupted)


def _raise_interrupted(num: int, _frame: FrameType | None) -> None:
    raise Interrupted(signal.Signals(num).name)


def _install_handlers() -> None:
    if _INSTALLED or threading.current_thread() is not threading.main_thread():
        return
    _INSTALLED.append(True)
    atexit.register(teardown_all)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, chained_handler(signal.getsignal(signum)))
