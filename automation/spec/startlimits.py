"""Start limits of the automation units, computed from the worst case of a failing start.

systemd allows a unit `StartLimitBurst=` starts within `StartLimitIntervalSec=`: the window
opens at the first start and closes `interval` later; a start while `burst` starts already fell
in the open window is refused and the unit is left `failed` ("start-limit-hit"). With
`Restart=on-failure` that is what ends the retries, but only if `burst + 1` starts of a unit
that keeps failing really fall into one window. A window shorter than `burst` failing starts
(the old 6 starts per 1800 s, with joins that last 460 s each) never fills up: the unit
restarts forever, whatever the README said.

So the window is computed, never typed:

- `run_s`: the longest one start can last = the sum of the unit's `run_budget` (config
  defaults and `FIXED_BUDGETS`). `TimeoutStartSec=` is that, rounded up: `fba` ends on its own
  deadlines first, and systemd's kill is the backstop that makes the bound hold even when a
  user's config raises the deadlines.
- `wait_s`: a restart is a new start job, and it waits for the start jobs of the automation
  units ordered `After=` it (flaredb's join waits while chainfire's join is restarting). The
  worst case is the longest chain of predecessors, each running its whole `TimeoutStartSec=`.
- `cycle_s` = `TimeoutStartSec` + `KILL_MARGIN_S` + `RestartSec` + `wait_s`: the latest one
  start follows the previous one.
- `StartLimitIntervalSec` = `tries * cycle_s`: the start after the last allowed one (number
  `tries + 1`) comes at most `tries * cycle_s` after the first, so it falls inside the window
  and is refused. The unit is left `failed` at the latest then (`failed_after_s`).

What this does not bound: the units others provide (network-online.target, the services
themselves). A join's restart also waits for its service's start job; a service stuck in
`activating` stretches that cycle, and a unit could then get more starts than `tries` (each
still bounded by TimeoutStartSec) before it is left `failed`.

Importing this module imports the config model (for its defaults): it is for the renderer and
the tests, not for `fba`'s commands.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

from automation.spec.units import AUTOMATION_UNITS, FIXED_BUDGETS, UnitSpec, unit_by_name

# From systemd's kill at TimeoutStartSec to the unit being dead: fba dies at SIGTERM (Python's
# default action; it installs no handler), so this only covers systemd's own bookkeeping.
KILL_MARGIN_S = 5


class BudgetError(ValueError):
    """A unit's `run_budget` names something that is neither a config field nor a fixed budget."""


@dataclass(frozen=True)
class StartLimits:
    unit: str
    run_s: float  # the longest one start can last, from the budgets
    timeout_start_sec: int  # TimeoutStartSec=: run_s rounded up
    restart_sec: int  # RestartSec=
    wait_s: int  # the longest a restart waits for the units ordered before it
    cycle_s: int  # start to next start, at the latest
    burst: int  # StartLimitBurst=: starts allowed in one window
    interval_sec: int  # StartLimitIntervalSec=
    failed_after_s: int  # the latest the unit is left `failed`, counted from its first start

    @property
    def retries(self) -> int:
        """Automatic restarts after the first start."""
        return self.burst - 1


@cache
def budget_s(name: str) -> float:
    """Seconds of one `run_budget` term: `FIXED_BUDGETS[name]` or a config default (`join.deadline_s`)."""
    if name in FIXED_BUDGETS:
        return FIXED_BUDGETS[name]
    from pydantic import BaseModel

    from automation.spec.config import ClusterConfig

    section, _, field = name.partition(".")
    info = ClusterConfig.model_fields.get(section)
    model = info.annotation if info is not None else None
    if not (isinstance(model, type) and issubclass(model, BaseModel)) or field not in model.model_fields:
        raise BudgetError(f"run_budget term {name!r}: no such config field or fixed budget")
    value = getattr(model(), field)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BudgetError(f"run_budget term {name!r}: default {value!r} is not a number of seconds")
    return float(value)


def run_s(unit: UnitSpec) -> float:
    if not unit.run_budget:
        raise BudgetError(f"{unit.name}: empty run_budget; every unit needs a bound on one start")
    return sum(budget_s(term) for term in unit.run_budget)


def timeout_start_sec(unit: UnitSpec) -> int:
    return math.ceil(run_s(unit))


def _predecessors(unit: UnitSpec) -> list[UnitSpec]:
    names = {u.name for u in AUTOMATION_UNITS}
    before_me = {u.name for u in AUTOMATION_UNITS if unit.name in u.before}
    return [unit_by_name(n) for n in sorted({*unit.after, *before_me} & names)]


def wait_s(unit: UnitSpec) -> int:
    """The longest chain of automation units ordered before `unit`, each at its TimeoutStartSec."""
    return max((timeout_start_sec(p) + wait_s(p) for p in _predecessors(unit)), default=0)


def limits(unit: UnitSpec) -> StartLimits:
    timeout = timeout_start_sec(unit)
    wait = wait_s(unit)
    cycle = timeout + KILL_MARGIN_S + unit.restart_sec + wait
    interval = unit.tries * cycle
    return StartLimits(
        unit=unit.name,
        run_s=run_s(unit),
        timeout_start_sec=timeout,
        restart_sec=unit.restart_sec,
        wait_s=wait,
        cycle_s=cycle,
        burst=unit.tries,
        interval_sec=interval,
        failed_after_s=interval,
    )


def all_limits() -> tuple[StartLimits, ...]:
    return tuple(limits(u) for u in AUTOMATION_UNITS)


def _minutes(seconds: int) -> str:
    return f"{seconds / 60:.0f} min"


def start_limits_markdown() -> str:
    """The README's table of how often each unit is retried and when it is left `failed`."""
    rows = [
        "| unit | one start at most (`TimeoutStartSec`) | made of | `RestartSec` | waits for units before it "
        "| starts (`StartLimitBurst`) | window (`StartLimitIntervalSec`) | left `failed` at the latest |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for unit, lim in zip(AUTOMATION_UNITS, all_limits(), strict=True):
        made_of = " + ".join(f"`{term}` {budget_s(term):g}" for term in unit.run_budget)
        rows.append(
            f"| `{unit.name}` | {lim.timeout_start_sec} s | {made_of} | {lim.restart_sec} s | {lim.wait_s} s "
            f"| {lim.burst} (1 + {lim.retries} restarts) | {lim.interval_sec} s "
            f"| {_minutes(lim.failed_after_s)} after its first start |"
        )
    return "\n".join(rows) + "\n"
