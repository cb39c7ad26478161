"""Every injected fault as a start/stop interval: in memory for the report's timeline, and as
`fault` events in the run's `events.jsonl` (`phase: "start"` / `"stop"`), so a killed run
still leaves the faults it injected.

Times are seconds on the recorder's clock since `origin` (by default: when the recorder was
made; scenarios pass the cluster's start). A record whose `end_s` is None is still active.
Instantaneous faults (a reboot, a kill -9) get both ends, a few milliseconds apart.

```python
recorder = FaultRecorder(run_log, origin=cluster.started_at)
with recorder.interval("partition", "node04 | node01,node02,node03", nodes=("node04",)):
    ...
recorder.records   # [FaultRecord(id=1, kind="partition", ..., start_s=3.2, end_s=41.0)]
```
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Protocol

from harness.errors import HarnessError

__all__ = ["EventSink", "FaultRecord", "FaultRecorder", "FAULT_EVENT"]

FAULT_EVENT = "fault"  # harness.log.EventKind.FAULT (the log module's vocabulary)


class EventSink(Protocol):
    """What the recorder needs of `harness.log.RunLog`."""

    def event(self, kind: str, msg: str, *, node: str | None = None, **fields: Any) -> None: ...


@dataclass(frozen=True)
class FaultRecord:
    """One fault. `nodes` are the nodes it acts on; empty means the whole cluster network.
    Shaped like `harness.report.timeline.FaultInterval` (label, start_s, end_s)."""

    id: int
    kind: str
    label: str
    start_s: float
    end_s: float | None = None
    nodes: tuple[str, ...] = ()
    args: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def active(self) -> bool:
        return self.end_s is None

    def affects(self, node: str) -> bool:
        return not self.nodes or node in self.nodes

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["args"] = dict(self.args)
        return data


class FaultRecorder:
    """Thread-safe list of fault intervals, mirrored into the event log."""

    def __init__(
        self,
        log: EventSink | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        origin: float | None = None,
    ) -> None:
        self._log = log
        self._clock = clock
        self.origin = clock() if origin is None else origin
        self._records: dict[int, FaultRecord] = {}
        self._lock = threading.Lock()
        self._next_id = 1

    def now(self) -> float:
        """Seconds since `origin`."""
        return round(self._clock() - self.origin, 3)

    def start(self, kind: str, label: str, *, nodes: Sequence[str] = (), **args: Any) -> int:
        """Record that a fault began now; returns its id for `stop()`."""
        with self._lock:
            fault_id = self._next_id
            self._next_id += 1
            record = FaultRecord(fault_id, kind, label, self.now(), None, tuple(nodes), dict(args))
            self._records[fault_id] = record
        self._emit("start", record)
        return fault_id

    def stop(self, fault_id: int, *, error: str | None = None) -> FaultRecord:
        """Record that the fault ended now (idempotent: a second stop returns the record)."""
        with self._lock:
            try:
                record = self._records[fault_id]
            except KeyError:
                raise HarnessError(f"fault recorder: no fault #{fault_id}; recorded: {sorted(self._records)}") from None
            if record.end_s is not None:
                return record
            record = replace(record, end_s=max(self.now(), record.start_s), error=error)
            self._records[fault_id] = record
        self._emit("stop", record)
        return record

    @contextmanager
    def interval(self, kind: str, label: str, *, nodes: Sequence[str] = (), **args: Any) -> Iterator[int]:
        """Record the body as one fault interval (stopped also when the body raises)."""
        fault_id = self.start(kind, label, nodes=nodes, **args)
        error: str | None = None
        try:
            yield fault_id
        except BaseException as err:
            error = f"{type(err).__name__}: {err}"
            raise
        finally:
            self.stop(fault_id, error=error)

    @property
    def records(self) -> list[FaultRecord]:
        """All faults in start order."""
        with self._lock:
            return [self._records[k] for k in sorted(self._records)]

    def active(self) -> list[FaultRecord]:
        return [r for r in self.records if r.active]

    def for_node(self, node: str) -> list[FaultRecord]:
        """Faults that act on `node` (node-specific ones and cluster-wide ones)."""
        return [r for r in self.records if r.affects(node)]

    def as_json(self) -> list[dict[str, Any]]:
        return [r.as_dict() for r in self.records]

    def _emit(self, phase: str, record: FaultRecord) -> None:
        if self._log is None:
            return
        fields: dict[str, Any] = {
            "phase": phase,
            "fault": record.kind,
            "fault_id": record.id,
            "nodes": list(record.nodes),
            "args": dict(record.args),
            "at_s": record.start_s if phase == "start" else record.end_s,
        }
        if record.error:
            fields["error"] = record.error
        node = record.nodes[0] if len(record.nodes) == 1 else None
        self._log.event(FAULT_EVENT, f"{phase} {record.kind}: {record.label}", node=node, **fields)
