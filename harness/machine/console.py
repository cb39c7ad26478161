"""The serial console: a log file QEMU writes, a cursor for matching, a socket for input.

QEMU's serial chardev writes every byte to the node's log file (`logfile=`), so the log is
complete even if the harness is slow. `wait_for_text` searches from a cursor and moves it
past each match, like the driver consuming console lines: waiting twice for "login:" waits
for a second prompt. Every wait is bounded.
"""

from __future__ import annotations

import re
import select
import socket
import time
from collections.abc import Callable
from pathlib import Path

from harness.errors import ConsoleFatal, InfrastructureError, NodeStateError, WaitTimeout
from harness.waits import Clock, Duration, Observation, Sleep, tail, wait_until

__all__ = ["Console", "CONSOLE_TIMEOUT"]

SEND_CHUNK = 8
SEND_PAUSE = 0.05
SEND_LINGER = 0.3
CONSOLE_TIMEOUT = 900.0
"""Budget when `wait_for_text(timeout=None)`: the driver waits forever here; we do not."""


def _compile(regex: str | re.Pattern[str]) -> re.Pattern[str]:
    return regex if isinstance(regex, re.Pattern) else re.compile(regex, re.MULTILINE)


class Console:
    """One node's serial console. Not thread-safe: one test thread drives one node."""

    def __init__(self, log_path: Path, socket_path: Path | None = None) -> None:
        self.log_path = log_path
        self.socket_path = socket_path
        self._cursor = 0
        self._origin = 0

    def text(self) -> str:
        """The whole console log so far (all boots of this node), decoded leniently."""
        try:
            return self.log_path.read_bytes().decode("utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def mark(self) -> None:
        """Move the match cursor to the end: later waits only see newer output."""
        self._cursor = self._origin = len(self.text())

    def since_mark(self) -> str:
        """The output since the last `mark()` (for a node: this boot's console)."""
        return self.text()[self._origin :]

    def wait_for_text(
        self,
        regex: str | re.Pattern[str],
        timeout: Duration | None = None,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
        deadline_cap: float | None = None,
        fatal: str | re.Pattern[str] | None = None,
        precheck: Callable[[], None] | None = None,
    ) -> re.Match[str]:
        """Wait until `regex` matches console output after the cursor; move the cursor past it.

        A string `regex` is compiled with `re.MULTILINE`; a compiled pattern is used as is.
        If `fatal` matches the unread text first (e.g. "Kernel panic"), give up at once.

        Raises:
            ConsoleFatal: `fatal` matched; the boot cannot succeed.
            WaitExpired: no match within `timeout` (None = `CONSOLE_TIMEOUT`); shows the
                last 20 console lines.
        """
        pattern = _compile(regex)
        stop = _compile(fatal) if fatal is not None else None
        found: list[re.Match[str]] = []

        def look(_left: float) -> Observation:
            text = self.text()
            if precheck is not None and pattern.search(text, self._cursor) is None:
                precheck()  # e.g. raise at once if QEMU has exited
            match = pattern.search(text, self._cursor)
            if match is None:
                bad = stop.search(text, self._cursor) if stop is not None else None
                if bad is not None:
                    raise ConsoleFatal(
                        f"{self.log_path.name}: fatal console line {bad.group(0)!r} while waiting "
                        f"for {pattern.pattern!r}; last lines:\n{tail(text[self._cursor :])}"
                    )
                return Observation(ok=False, output=text[self._cursor :])
            found.append(match)
            self._cursor = match.end()
            return Observation(ok=True)

        wait_until(
            look,
            what=f"console text matching {pattern.pattern!r} in {self.log_path.name}",
            timeout=CONSOLE_TIMEOUT if timeout is None else timeout,
            clock=clock,
            sleep=sleep,
            deadline_cap=deadline_cap,
        )
        return found[0]

    def send(self, chars: str, *, timeout: float = 10.0) -> None:
        """Type `chars` into the serial port (QEMU's chardev socket).

        The emulated UART takes 16 bytes at a time and QEMU drops whatever it has not read
        when the client hangs up, so we send in small chunks and linger before closing,
        reading (and discarding: the log file has it) what the guest echoes meanwhile.

        Raises:
            NodeStateError: the node has no console socket (not started).
            WaitTimeout: QEMU did not take the input within `timeout`.
            InfrastructureError: the serial socket refused or broke (QEMU gone?); cause kept.
        """
        if self.socket_path is None or not self.socket_path.exists():
            raise NodeStateError(f"send_console: no serial socket at {self.socket_path}; start() the node first")
        data = chars.encode()
        deadline = time.monotonic() + timeout
        slow = WaitTimeout(f"send_console: input not taken within {timeout:g} s; is the guest stuck?")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(timeout)
                sock.connect(str(self.socket_path))
                for offset in range(0, len(data), SEND_CHUNK):
                    if time.monotonic() > deadline:
                        raise slow
                    sock.sendall(data[offset : offset + SEND_CHUNK])
                    self._drain(sock, SEND_PAUSE)
                self._drain(sock, SEND_LINGER)
        except TimeoutError as err:  # the socket's own timeout
            raise slow from err
        except OSError as err:
            raise InfrastructureError(
                f"send_console: serial socket {self.socket_path}: {err}; is QEMU still running?"
            ) from err

    @staticmethod
    def _drain(sock: socket.socket, secs: float) -> None:
        end = time.monotonic() + secs
        for _ in range(1000):
            left = end - time.monotonic()
            if left <= 0:
                return
            ready, _, _ = select.select([sock], [], [], left)
            if ready and not sock.recv(65536):
                return
