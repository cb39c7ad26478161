"""`fba analyze`: how long each first-boot step took this boot, against the design's budgets.

Like `systemd-analyze blame`, for our units: for each unit the T+ offset (from userspace
start) at which it finished, its own run time, and the budget from the unit graph (bootstrap
or join timeline), multiplied by `--factor` (e.g. the harness's measured TCG slowdown).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from automation.spec.exitcodes import ExitCode
from automation.spec.units import AUTOMATION_UNITS
from automation.systemd import Systemd


@dataclass(frozen=True)
class StepTiming:
    unit: str
    finished_at_s: float | None
    duration_s: float | None
    budget_s: float
    within_budget: bool


def timings(systemd: Systemd, *, bootstrap: bool, factor: float) -> list[StepTiming]:
    origin = systemd.userspace_start_monotonic_us()
    out = []
    for unit in AUTOMATION_UNITS:
        props = systemd.unit(unit.name)
        start = _us(props.get("ExecMainStartTimestampMonotonic"))
        end = _us(props.get("ExecMainExitTimestampMonotonic")) or _us(props.get("ActiveEnterTimestampMonotonic"))
        budget = (unit.budget_bootstrap_s if bootstrap else unit.budget_join_s) * factor
        finished = (end - origin) / 1e6 if end and origin is not None else None
        duration = (end - start) / 1e6 if end and start else None
        out.append(StepTiming(unit.name, finished, duration, budget, finished is not None and finished <= budget))
    return out


def _us(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() and int(value) > 0 else None


def render(steps: list[StepTiming], fmt: str, factor: float) -> str:
    if fmt == "json":
        return json.dumps({"factor": factor, "steps": [asdict(s) for s in steps]}, separators=(",", ":"))
    lines = [f"{'unit':<32} {'finished':>10} {'took':>8} {'budget':>8}  verdict   (budget factor {factor:g})"]
    for s in sorted(steps, key=lambda s: -(s.duration_s or 0)):
        fin = f"T+{s.finished_at_s:.1f}s" if s.finished_at_s is not None else "-"
        took = f"{s.duration_s:.1f}s" if s.duration_s is not None else "-"
        verdict = "ok" if s.within_budget else ("OVER" if s.finished_at_s is not None else "unfinished")
        lines.append(f"{s.unit:<32} {fin:>10} {took:>8} {s.budget_s:>7.0f}s  {verdict}")
    return "\n".join(lines)


def verdict(steps: list[StepTiming]) -> ExitCode:
    return ExitCode.OK if all(s.within_budget for s in steps) else ExitCode.FAILED
