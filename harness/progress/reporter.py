"""`Reporter`: a thread of the `cluster-test` process that shows a run's progress while it runs.

    with Reporter(report_dir, LineSink(sys.stdout)) as reporter:
        proc = subprocess.Popen(pytest_argv, stdout=subprocess.PIPE)
        reporter.relay(proc.stdout)     # the child's lines go through the same sink
        proc.wait()

Every `poll_s` seconds it reads what is new in the run directory (`RunFollower`), hands the
changes to the sink and refreshes it. Leaving stops the thread (bounded join), reads once more
so the last changes are shown, and closes the sink.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO

from harness.progress.follow import RunFollower
from harness.progress.render import Sink
from harness.progress.tracker import Tracker

__all__ = ["POLL_S", "Reporter"]

POLL_S = 0.5
"""Seconds between reads of the run directory: a phase is shown at most this late."""
JOIN_S = 5.0
"""Seconds to wait for the reader threads at the end; a grandchild holding the pipe open
(e.g. a kept QEMU) must not hold `cluster-test` up."""


class Reporter:
    def __init__(
        self, run_dir: Path, sink: Sink, *, clock: Callable[[], float] = time.time, poll_s: float = POLL_S
    ) -> None:
        self.sink = sink
        self.clock = clock
        self.poll_s = poll_s
        self.tracker = Tracker(clock, run_dir=run_dir)
        self.follower = RunFollower(run_dir, self.tracker)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._finished = False

    def step(self) -> None:
        """Read once, show the changes, refresh the view."""
        with self._lock:
            changes = self.follower.poll()
            self.sink.changes(changes)
            self.sink.update(self.tracker.nodes.values(), self.clock())

    def relay(self, stream: IO[bytes]) -> None:
        """Pass `stream`'s lines (the child's stdout) to the sink until it ends, in a thread."""

        def pump() -> None:
            for raw in iter(stream.readline, b""):
                self.sink.relay(raw.decode("utf-8", errors="replace"))

        self._spawn(pump, "progress-relay")

    def __enter__(self) -> Reporter:
        def loop() -> None:
            while not self._stop.wait(self.poll_s):
                self.step()

        self._spawn(loop, "progress")
        return self

    def finish(self) -> None:
        """Stop polling, let the relay drain (bounded), show the last changes, close the sink.
        Idempotent: leaving the `with` block calls it too."""
        if self._finished:
            return
        self._finished = True
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=JOIN_S)
        try:
            self.step()
        finally:
            self.sink.close()

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        self.finish()

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        # Daemon: a thread stuck reading a pipe never keeps the process alive at exit.
        thread = threading.Thread(target=target, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()
