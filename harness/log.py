"""Timed nested steps on the terminal, and a JSON-lines event log for the timeline.

One `RunLog` per run. Nodes get a `NodeLog` view that prefixes their lines with the node
name, so serial and driver lines stay apart (NixOS driver users ask for this). Every step
and every wait attempt is also appended as one JSON object per line to `events.jsonl`, which
`harness/report` turns into a timeline:

    {"t": 12.031, "wall": "2025-01-01T10:00:12.031+00:00", "kind": "step_end",
     "node": "node01", "msg": "waiting for unit sshd.service", "duration": 3.2, "ok": true}

```python
run_log = RunLog(events_path=tmp / "events.jsonl")
with run_log.nested("boot cluster"):
    run_log.for_node("node01").log("hello")
```
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from rich.console import Console
from rich.markup import escape

__all__ = ["EventKind", "RunLog", "NodeLog", "read_events"]


class EventKind:
    """Kinds of events in `events.jsonl` (plain strings: the file is read by other tools)."""

    STEP_START = "step_start"
    STEP_END = "step_end"
    LOG = "log"
    ATTEMPT = "attempt"
    FAULT = "fault"
    ACCEL = "accel"
    WARNING = "warning"


@dataclass
class RunLog:
    """The run's logger: rich console output plus an optional JSON-lines event file.

    Thread-safe: nodes boot in parallel threads. Nesting depth is tracked per thread.
    """

    events_path: Path | None = None
    console: Console = field(default_factory=lambda: Console(stderr=True, highlight=False))
    clock: Any = time.monotonic
    quiet: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _local: threading.local = field(default_factory=threading.local, init=False, repr=False)
    _file: IO[str] | None = field(default=None, init=False, repr=False)
    _start: float = field(default=0.0, init=False, repr=False)

    def __post_init__(self) -> None:
        self._start = self.clock()
        if self.events_path is not None:
            self.events_path.parent.mkdir(parents=True, exist_ok=True)
            # Line-buffered so a killed run still leaves every event it logged.
            self._file = self.events_path.open("a", encoding="utf-8", buffering=1)

    def close(self) -> None:
        """Flush and close the event file (idempotent)."""
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def for_node(self, name: str) -> NodeLog:
        """A view of this log whose lines carry `name` as a prefix and a `node` field."""
        return NodeLog(self, name)

    @property
    def _depth(self) -> int:
        return int(getattr(self._local, "depth", 0))

    def event(self, kind: str, msg: str, *, node: str | None = None, **fields: Any) -> None:
        """Append one event to the JSON-lines log (no console output)."""
        record: dict[str, Any] = {
            "t": round(self.clock() - self._start, 3),
            "wall": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "kind": kind,
            "node": node,
            "msg": msg,
        }
        record.update(fields)
        line = json.dumps(record, default=str)
        with self._lock:
            if self._file is not None:
                self._file.write(line + "\n")

    def log(self, msg: str, *, node: str | None = None, style: str = "", **fields: Any) -> None:
        """Print `msg` at the current nesting depth and record it as an event."""
        self.event(EventKind.LOG, msg, node=node, **fields)
        self._print(msg, node=node, style=style)

    def warn_loudly(self, msg: str, *, node: str | None = None) -> None:
        """A banner nobody can miss (e.g. "running under TCG"), also as an event."""
        self.event(EventKind.WARNING, msg, node=node)
        with self._lock:
            self.console.rule(f"[bold red]{escape(msg)}[/]", style="red")

    def _print(self, msg: str, *, node: str | None, style: str = "") -> None:
        if self.quiet:
            return
        prefix = f"[bold cyan]{escape(node)}[/]: " if node else ""
        body = f"[{style}]{escape(msg)}[/]" if style else escape(msg)
        with self._lock:
            self.console.print("  " * self._depth + prefix + body, soft_wrap=True)

    @contextmanager
    def nested(self, msg: str, attrs: Mapping[str, str] | None = None, *, node: str | None = None) -> Iterator[None]:
        """Log `msg`, run the body one level deeper, then log its duration and outcome.

        The `attrs` are copied into the start event (the driver's signature).
        """
        fields = dict(attrs or {})
        self.event(EventKind.STEP_START, msg, node=node, **fields)
        self._print(msg, node=node, style="bold")
        begin = self.clock()
        self._local.depth = self._depth + 1
        ok = False
        try:
            yield
            ok = True
        finally:
            self._local.depth = self._depth - 1
            took = self.clock() - begin
            self.event(EventKind.STEP_END, msg, node=node, duration=round(took, 3), ok=ok)
            verdict = "" if ok else " [failed]"
            self._print(f"({took:.2f} s){verdict}", node=node, style="dim" if ok else "red")


@dataclass(frozen=True)
class NodeLog:
    """`RunLog` bound to one node: its lines read `node01: ...`."""

    run: RunLog
    node: str

    def log(self, msg: str, **fields: Any) -> None:
        self.run.log(msg, node=self.node, **fields)

    def event(self, kind: str, msg: str, **fields: Any) -> None:
        self.run.event(kind, msg, node=self.node, **fields)

    def warn_loudly(self, msg: str) -> None:
        self.run.warn_loudly(msg, node=self.node)

    @contextmanager
    def nested(self, msg: str, attrs: Mapping[str, str] | None = None) -> Iterator[None]:
        with self.run.nested(msg, attrs, node=self.node):
            yield


def read_events(path: Path) -> list[dict[str, Any]]:
    """Parse an `events.jsonl` file; a torn last line (killed run) is skipped."""
    events: list[dict[str, Any]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return events
