"""Declarative fault schedules: a JSON or TOML file of timed steps, resolved from a seed into
a concrete `Plan` that `harness.faults.runner.run_plan` applies to a cluster.

```toml
name = "leader-pause"
seed = 7
[topology]
bootstrap_nodes = 3
join_nodes = 1
[[steps]]
at_s = 5
fault = "pause"
args = { node = { choice = ["node01", "node02", "node03"] } }
duration_s = 20
jitter_s = 3
```

Randomness lives only in the resolution: an argument `{"choice": [...]}` picks one value,
`{"uniform": [lo, hi]}` a number, `{"randint": [lo, hi]}` an integer, and `jitter_s` adds
up to that many seconds to `at_s`; all drawn from `random.Random(seed)` in file order, so the
same file and seed always give the same plan (`Plan.as_json()` prints it). Steps are checked
against the fault verbs (`injector.SCHEDULABLE`) and, when given, the cluster's node names;
network steps also build their ledger entry (`injector.net_entry`), so overlapping partition
groups are a `ScheduleError` naming the step.
"""

from __future__ import annotations

import json
import random
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from harness.errors import HarnessError
from harness.faults.injector import INSTANT, net_entry, validate_args

__all__ = ["Plan", "PlannedStep", "Schedule", "ScheduleError", "Step", "load_schedule", "parse_schedule"]

MAX_SCHEDULE_S = 1800.0  # a schedule is a scenario, not a soak test
NODE_ARGS = ("node", "src", "dst")


class ScheduleError(HarnessError):
    """The schedule file is unreadable or invalid; the message names the step and field."""


class Step(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    at_s: float = Field(ge=0, description="seconds after the schedule starts")
    fault: str
    args: dict[str, Any] = Field(default_factory=dict)
    duration_s: float | None = Field(default=None, gt=0, description="None: until the schedule ends")
    jitter_s: float = Field(default=0.0, ge=0)

    @model_validator(mode="after")
    def _known_fault(self) -> Step:
        if self.fault in INSTANT and self.duration_s is not None:
            raise ValueError(f"{self.fault} is instantaneous; drop duration_s")
        return self


class TopologyModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    bootstrap_nodes: int = Field(default=3, ge=1, le=9)
    join_nodes: int = Field(default=0, ge=0, le=31)


class Schedule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    seed: int = 0
    topology: TopologyModel = Field(default_factory=TopologyModel)
    settle_s: float = Field(
        default=10.0,
        ge=0,
        description="extra time the cluster may take to settle after the last step (added to the bounded wait "
        "for every node's first boot to be done before checking; waited for, not slept)",
    )
    steps: list[Step] = Field(min_length=1)

    def plan(self, seed: int | None = None, nodes: Iterable[str] | None = None) -> Plan:
        """Resolve every random choice with `seed` (default: the file's) into a concrete plan."""
        used = self.seed if seed is None else seed
        rng = random.Random(used)
        known = list(nodes) if nodes is not None else None
        steps = []
        for index, step in enumerate(self.steps):
            where = f"steps[{index}] ({step.fault})"
            args = {k: _resolve(v, rng, f"{where}.args.{k}") for k, v in step.args.items()}
            at = step.at_s + (rng.uniform(0, step.jitter_s) if step.jitter_s else 0.0)
            try:
                validate_args(step.fault, args)
            except HarnessError as err:
                raise ScheduleError(f"{where}: {err}") from None
            if known is not None:
                _check_nodes(args, known, where)
            try:  # build the network entry now, so a bad one fails here and not mid-run
                net_entry(step.fault, args, known)
            except HarnessError as err:
                raise ScheduleError(f"{where}: {err}") from err
            steps.append(PlannedStep(index, round(at, 3), step.fault, args, step.duration_s))
        plan = Plan(self.name, used, tuple(sorted(steps, key=lambda s: (s.at_s, s.index))), self.settle_s)
        if plan.end_s > MAX_SCHEDULE_S:
            raise ScheduleError(f"schedule {self.name}: ends at {plan.end_s:.0f}s, over the {MAX_SCHEDULE_S:.0f}s cap")
        return plan


def _resolve(value: Any, rng: random.Random, where: str) -> Any:
    if isinstance(value, dict) and len(value) == 1:
        ((kind, spec),) = value.items()
        if kind == "choice":
            if not isinstance(spec, list) or not spec:
                raise ScheduleError(f"{where}: choice needs a non-empty list, got {spec!r}")
            return spec[rng.randrange(len(spec))]
        if kind in ("uniform", "randint"):
            if not (isinstance(spec, list) and len(spec) == 2 and all(isinstance(x, int | float) for x in spec)):
                raise ScheduleError(f"{where}: {kind} needs [low, high], got {spec!r}")
            low, high = spec
            return rng.randint(int(low), int(high)) if kind == "randint" else round(rng.uniform(low, high), 3)
    return value


def _check_nodes(args: Mapping[str, Any], known: list[str], where: str) -> None:
    named: list[str] = []
    for key in NODE_ARGS:
        value = args.get(key)
        named += [value] if isinstance(value, str) else list(value or [])
    for group in args.get("groups", []) or []:
        named += list(group)
    unknown = sorted({n for n in named if n not in known})
    if unknown:
        raise ScheduleError(f"{where}: unknown node(s) {unknown}; this cluster has {', '.join(known)}")


@dataclass(frozen=True)
class PlannedStep:
    index: int
    at_s: float
    fault: str
    args: Mapping[str, Any]
    duration_s: float | None

    @property
    def end_s(self) -> float | None:
        return None if self.duration_s is None else round(self.at_s + self.duration_s, 3)


@dataclass(frozen=True)
class Plan:
    name: str
    seed: int
    steps: tuple[PlannedStep, ...]
    settle_s: float = 0.0

    @property
    def end_s(self) -> float:
        """When the last fault starts or is healed."""
        return max([s.end_s or s.at_s for s in self.steps] + [0.0])

    def as_json(self) -> str:
        return json.dumps({"name": self.name, "seed": self.seed, "settle_s": self.settle_s,
                           "steps": [asdict(s) for s in self.steps]}, indent=2, default=dict)  # fmt: skip


def parse_schedule(text: str, *, fmt: str = "json", source: str = "<schedule>") -> Schedule:
    try:
        data = tomllib.loads(text) if fmt == "toml" else json.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as err:
        raise ScheduleError(f"{source}: not valid {fmt.upper()}: {err}") from None
    try:
        return Schedule.model_validate(data)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in err.errors(include_url=False)
        )
        raise ScheduleError(f"{source}: invalid schedule: {problems}") from None


def load_schedule(path: Path) -> Schedule:
    """Read a `.json` or `.toml` schedule file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ScheduleError(f"cannot read schedule {path}: {err.strerror}; give a .json or .toml file") from None
    return parse_schedule(text, fmt="toml" if path.suffix == ".toml" else "json", source=str(path))
