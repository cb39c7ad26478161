"""Last-resort teardown: everything the harness starts registers here, and SIGINT, SIGTERM
and interpreter exit tear it all down, newest first (nodes before their network).

A module-level registry is the one global we keep on purpose: signal handlers and atexit
have no other way to find what must be stopped. The handlers chain to the previous ones
(pytest's, the CLI's); with no previous handler the process then dies by the same signal.
"""

from __future__ import annotations

import atexit
import itertools
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

__all__ = ["register", "teardown_all", "unregister"]

_LIVE: dict[int, tuple[str, Callable[[], None]]] = {}
_LOCK = threading.Lock()
_IDS = itertools.count(1)
_INSTALLED: list[bool] = []


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

    A failing teardown does not stop the others.
    """
    with _LOCK:
        items = sorted(_LIVE.items(), reverse=True)
        _LIVE.clear()
    done = []
    for _token, (label, teardown) in items:
        try:
            teardown()
        except Exception:  # keep going: the next teardown may still free a namespace
            pass
        done.append(label)
    return done


def _install_handlers() -> None:
    if _INSTALLED or threading.current_thread() is not threading.main_thread():
        return
    _INSTALLED.append(True)
    atexit.register(teardown_all)
    for signum in (signal.SIGINT, signal.SIGTERM):
        previous = signal.getsignal(signum)

        def handler(num: int, frame: FrameType | None, previous: Any = previous) -> None:
            teardown_all()
            if callable(previous):
                previous(num, frame)
            elif previous == signal.SIG_IGN:
                return
            else:  # SIG_DFL: die by the same signal, as whoever sent it expects
                signal.signal(num, signal.SIG_DFL)
                signal.raise_signal(num)

        signal.signal(signum, handler)
