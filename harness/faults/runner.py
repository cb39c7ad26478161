"""Apply a `Plan` to a cluster: each step starts at its `at_s`, is healed at `at_s +
duration_s` (or when the plan ends), and everything still active is healed in a `finally`.

The loop walks a precomputed, finite list of start/stop events, so it is bounded by the plan;
a step that takes longer than planned (a reboot) delays the later ones, and the lateness is
recorded in the step's outcome.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from harness.errors import HarnessError
from harness.faults.recorder import FaultRecord
from harness.faults.schedule import Plan, PlannedStep

__all__ = ["StepOutcome", "run_plan"]


class Stoppable(Protocol):
    def stop(self) -> FaultRecord: ...


class Applier(Protocol):
    """`harness.faults.Faults` fits."""

    def apply(self, fault: str, args: Mapping[str, Any]) -> Any: ...


@dataclass(frozen=True)
class StepOutcome:
    index: int
    fault: str
    planned_s: float
    started_s: float
    late_s: float
    stopped_s: float | None


def run_plan(
    faults: Applier,
    plan: Plan,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    log: Callable[[str], None] = lambda _msg: None,
) -> list[StepOutcome]:
    """Run `plan` now. Returns one outcome per step, in plan order."""
    events: list[tuple[float, int, int, PlannedStep]] = []
    for order, step in enumerate(plan.steps):
        events.append((step.at_s, 0, order, step))
        if step.end_s is not None:
            events.append((step.end_s, 1, order, step))
    events.sort(key=lambda e: (e[0], e[1], e[2]))
    begin = clock()
    active: dict[int, Stoppable] = {}
    started: dict[int, tuple[float, float]] = {}
    stopped: dict[int, float] = {}
    try:
        for at, phase, _order, step in events:
            wait = begin + at - clock()
            if wait > 0:
                sleep(wait)
            now = clock() - begin
            if phase == 0:
                log(f"schedule {plan.name} T+{now:.1f}s (planned {at:.1f}s): {step.fault} {dict(step.args)}")
                result = faults.apply(step.fault, step.args)
                started[step.index] = (now, max(0.0, now - at))
                if hasattr(result, "stop") and not isinstance(result, FaultRecord):
                    active[step.index] = result
            elif step.index in active:
                log(f"schedule {plan.name} T+{now:.1f}s: heal {step.fault}")
                active.pop(step.index).stop()
                stopped[step.index] = clock() - begin
    finally:
        first: BaseException | None = None
        for index in sorted(active, reverse=True):
            try:
                active[index].stop()
                stopped[index] = clock() - begin
            except Exception as err:  # heal the rest, then report
                first = first or err
        if first is not None:
            raise HarnessError(f"schedule {plan.name}: healing at the end failed: {first}") from first
    return [
        StepOutcome(
            s.index,
            s.fault,
            s.at_s,
            round(started[s.index][0], 3),
            round(started[s.index][1], 3),
            round(stopped[s.index], 3) if s.index in stopped else None,
        )  # fmt: skip
        for s in sorted(plan.steps, key=lambda s: s.index)
        if s.index in started
    ]
