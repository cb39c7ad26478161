"""QMP over `qemu.qmp`, synchronous, with a deadline on every call.

`qemu.qmp.QMPClient` is asyncio-only and has no per-call deadline. `QmpSession` runs it on a
private event loop in a daemon thread and waits for each call with a timeout, so a frozen
QEMU (or a jammed socket) costs at most that timeout, never a hang. Events are collected
from the moment of connection, so `wait_for_event` also sees events that arrived earlier.

```python
with QmpSession.connect(node_dir / "qmp.sock", timeout=10) as qmp:
    qmp.stop(); assert qmp.query_status()["status"] == "paused"; qmp.cont()
```
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Coroutine, Mapping
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from qemu.qmp import EventListener, QMPClient, QMPError

from harness.errors import InfrastructureError, WaitTimeout
from harness.waits import Duration, Observation, seconds, wait_until

__all__ = ["QMP_CALL_TIMEOUT", "QmpSession", "event_matches"]

QMP_CALL_TIMEOUT = 10.0
T = TypeVar("T")


def event_matches(event: Mapping[str, Any], event_filter: Mapping[str, Any] | str) -> bool:
    """True if `event` has the filter's name, or every key/value of a dict filter.

    `{"event": "STOP"}` matches a STOP event; nested dicts match recursively
    (`{"event": "SHUTDOWN", "data": {"guest": True}}`).
    """
    if isinstance(event_filter, str):
        return event.get("event") == event_filter
    for key, want in event_filter.items():
        have = event.get(key)
        if isinstance(want, Mapping):
            if not isinstance(have, Mapping) or not event_matches(have, want):
                return False
        elif have != want:
            return False
    return True


class QmpSession:
    """A connected QMP client; every method takes (or defaults) a deadline."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"qmp-{name}", daemon=True)
        self._thread.start()
        self._client = QMPClient(name)
        self._events: list[dict[str, Any]] = []
        self._events_lock = threading.Lock()
        self._pump: asyncio.Task[None] | None = None

    # -- plumbing -------------------------------------------------------------------------
    def _call(self, coro: Coroutine[Any, Any, T], timeout: float, what: str) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout=timeout)
        except FutureTimeout as err:
            future.cancel()
            raise WaitTimeout(
                f"QMP {what} on {self._name}: no answer within {timeout:g} s; "
                "QEMU is frozen or gone; check the console log, then crash() the node"
            ) from err
        except (QMPError, EOFError, OSError) as err:
            # EOF/OSError: QEMU went away mid-call (quit, crash, kill).
            raise InfrastructureError(f"QMP {what} on {self._name} failed: {err!r}") from err

    async def _collect(self, listener: EventListener) -> None:
        async for event in listener:
            with self._events_lock:
                self._events.append(dict(event))

    async def _start_pump(self, listener: EventListener) -> None:
        self._pump = asyncio.get_running_loop().create_task(self._collect(listener))

    async def _stop_pump(self) -> None:
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump

    @classmethod
    def connect(cls, socket: Path, *, timeout: Duration = QMP_CALL_TIMEOUT, name: str = "qemu") -> QmpSession:
        """Connect to QEMU's QMP unix socket, retrying until `timeout` (QEMU may be starting).

        Raises:
            WaitTimeout: the socket did not accept a QMP session in time.
        """
        session = cls(name)
        listener = EventListener()
        session._client.register_listener(listener)
        last_error = [""]

        def try_connect(left: float) -> Observation:
            if not socket.exists():  # QEMU has not created it yet: no need to ask
                return Observation(ok=False, output=f"{socket} does not exist yet")
            try:
                session._call(session._client.connect(str(socket)), left, "connect")
            except (InfrastructureError, WaitTimeout, OSError) as err:
                last_error[0] = str(err)
                return Observation(ok=False, output=last_error[0])
            return Observation(ok=True)

        try:
            wait_until(try_connect, what=f"QMP socket {socket}", timeout=timeout)
        except WaitTimeout:
            session.close()
            raise
        session._call(session._start_pump(listener), 2.0, "event pump")
        return session

    def close(self) -> None:
        """Disconnect and stop the loop thread (idempotent, bounded by 2 s)."""
        if self._loop.is_closed():
            return
        try:
            self._call(self._client.disconnect(), 2.0, "disconnect")
        except (WaitTimeout, InfrastructureError):
            pass  # QEMU already gone: nothing to say goodbye to
        with contextlib.suppress(WaitTimeout, InfrastructureError):
            self._call(self._stop_pump(), 2.0, "event pump stop")
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=2.0)
        if not self._thread.is_alive():
            self._loop.close()

    def __enter__(self) -> QmpSession:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    # -- commands -------------------------------------------------------------------------
    def execute(
        self, command: str, arguments: Mapping[str, object] | None = None,
        *, timeout: Duration = QMP_CALL_TIMEOUT,
    ) -> Any:  # fmt: skip
        """Run one QMP command and return its `return` value.

        Raises:
            WaitTimeout: no reply within `timeout`.
            InfrastructureError: QEMU answered with an error or the connection broke.
        """
        args = dict(arguments) if arguments is not None else None
        return self._call(self._client.execute(command, args), seconds(timeout), command)

    def stop(self) -> None:
        """Pause all vCPUs (the guest freezes; peers see it stop answering)."""
        self.execute("stop")

    def cont(self) -> None:
        """Resume vCPUs after `stop`."""
        self.execute("cont")

    def quit(self) -> None:
        """End QEMU at once (no guest shutdown). The reply may be lost as QEMU exits."""
        try:
            self.execute("quit", timeout=2.0)
        except (WaitTimeout, InfrastructureError):
            pass  # QEMU closes the socket while answering; the process check is the truth

    def system_powerdown(self) -> None:
        """Press the ACPI power button (the guest needs button+evdev to react)."""
        self.execute("system_powerdown")

    def query_status(self) -> dict[str, Any]:
        """`{"status": "running"|"paused"|..., "running": bool}`."""
        result: dict[str, Any] = self.execute("query-status")
        return result

    def human_monitor_command(self, command: str, *, timeout: Duration = QMP_CALL_TIMEOUT) -> str:
        """Run an HMP command (the driver's `send_monitor_command`) and return its text."""
        out = self.execute("human-monitor-command", {"command-line": command}, timeout=timeout)
        return str(out)

    # -- events ---------------------------------------------------------------------------
    def events(self) -> list[dict[str, Any]]:
        """All events received so far, oldest first."""
        with self._events_lock:
            return list(self._events)

    def wait_for_event(
        self,
        event_filter: Mapping[str, Any] | str | Callable[[dict[str, Any]], bool],
        *,
        timeout: Duration = 600,
        consume: bool = True,
        sleep: Callable[[float], None] = time.sleep,
    ) -> dict[str, Any]:
        """The first received event matching `event_filter`; removed from the buffer if
        `consume`, so the next call waits for a fresh one.

        Raises:
            WaitExpired: no such event within `timeout`; lists the events seen.
        """
        if callable(event_filter):
            match = event_filter
        else:
            wanted = event_filter

            def match(event: dict[str, Any]) -> bool:
                return event_matches(event, wanted)

        found: list[dict[str, Any]] = []

        def look(_left: float) -> Observation:
            with self._events_lock:
                for index, event in enumerate(self._events):
                    if match(event):
                        found.append(self._events.pop(index) if consume else event)
                        return Observation(ok=True)
                names = [str(e.get("event")) for e in self._events]
            return Observation(ok=False, output="\n".join(names), detail="events seen")

        wait_until(look, what=f"QMP event {event_filter!r}", timeout=timeout, sleep=sleep)
        return found[0]
