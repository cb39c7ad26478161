"""Start limits mean what the README says: a unit that keeps failing is left `failed`.

The replay below is systemd's start rate limit (`ratelimit_below()` in src/basic/ratelimit.c,
documented under StartLimitIntervalSec=/StartLimitBurst= in systemd.unit(5)): the window opens
at the first start and a later start resets it only once more than `interval` has passed since
the window opened; inside the window the start number `burst + 1` is refused.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from automation.render import refresh_generated, render_units
from automation.spec.startlimits import (
    KILL_MARGIN_S,
    BudgetError,
    all_limits,
    budget_s,
    limits,
    run_s,
    start_limits_markdown,
)
from automation.spec.units import AUTOMATION_UNITS, CHAINFIRE_JOIN, FLAREDB_JOIN, HEALTH_CHECK, IAM_SETUP

ROOT = Path(__file__).resolve().parents[3]
MAX_STARTS = 10_000  # the replay's own bound: a unit still starting after this many "never" stops


@dataclass
class RateLimit:
    """systemd's RateLimit: `interval` seconds, `burst` events, window opened at `begin`."""

    interval: float
    burst: int
    begin: float | None = None
    num: int = 0

    def below(self, now: float) -> bool:
        if self.begin is None or now - self.begin > self.interval:
            self.begin, self.num = now, 1
            return True
        self.num += 1
        return self.num <= self.burst


@dataclass(frozen=True)
class Replay:
    starts: int
    refused_at: float | None  # None: still restarting after MAX_STARTS


def replay(interval: float, burst: int, gaps: list[float] | float) -> Replay:
    """Start a unit that always fails; `gaps` is the time from one start to the next."""
    limit = RateLimit(interval, burst)
    now, starts = 0.0, 0
    for i in range(MAX_STARTS):
        if not limit.below(now):
            return Replay(starts, now)
        starts += 1
        now += gaps if isinstance(gaps, float) else gaps[i % len(gaps)]
    return Replay(starts, None)


def rendered(tmp_path: Path) -> list[dict[str, object]]:
    render_units(tmp_path)
    units: list[dict[str, object]] = json.loads((tmp_path / "units.json").read_text())["units"]
    return units


def test_rendered_units_are_left_failed_after_burst_starts_of_the_worst_case(tmp_path: Path) -> None:
    for unit, lim in zip(rendered(tmp_path), all_limits(), strict=True):
        assert unit["name"] == lim.unit
        interval, burst = float(unit["startLimitIntervalSec"]), int(unit["startLimitBurst"])  # type: ignore[arg-type]
        timeout, restart = float(unit["timeoutStartSec"]), float(unit["restartSec"])  # type: ignore[arg-type]
        # Every start lasts its whole TimeoutStartSec and waits for every unit ordered before it.
        worst = replay(interval, burst, timeout + KILL_MARGIN_S + restart + lim.wait_s)
        assert worst.starts == burst, unit["name"]
        assert worst.refused_at is not None and worst.refused_at <= lim.failed_after_s
        # A start that fails at once reaches the limit sooner, never later.
        fast = replay(interval, burst, restart)
        assert fast.starts == burst and fast.refused_at is not None and fast.refused_at < worst.refused_at


@given(
    unit=st.sampled_from(AUTOMATION_UNITS),
    fractions=st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)), min_size=1, max_size=12),
)
def test_any_mix_of_failing_start_times_is_refused_after_burst(
    unit: object, fractions: list[tuple[float, float]]
) -> None:
    lim = limits(unit)  # type: ignore[arg-type]
    gaps = [
        run * lim.timeout_start_sec + KILL_MARGIN_S + lim.restart_sec + wait * lim.wait_s for run, wait in fractions
    ]
    result = replay(lim.interval_sec, lim.burst, gaps)
    assert result.starts == lim.burst
    assert result.refused_at is not None and result.refused_at <= lim.failed_after_s


def test_the_old_hand_typed_limits_never_stop_a_failing_join() -> None:
    """The replay can fail: 6 starts per 1800 s with 420 s joins restarts forever (the startlimit case)."""
    assert replay(1800, 6, 420.0 + 10).refused_at is None


def test_timeout_start_sec_covers_the_budgets_of_one_start() -> None:
    for unit in AUTOMATION_UNITS:
        lim = limits(unit)
        assert lim.timeout_start_sec >= run_s(unit) > 0
        assert lim.timeout_start_sec == pytest.approx(run_s(unit), abs=1)
    join = limits(CHAINFIRE_JOIN)
    # A join's start: the health wait, then the join deadline, from the config defaults.
    assert join.run_s >= budget_s("health.timeout_s") + budget_s("join.deadline_s")
    assert budget_s("join.deadline_s") == 300.0 and budget_s("health.timeout_s") == 120.0


def test_units_wait_for_the_chain_of_units_ordered_before_them() -> None:
    chainfire, flaredb, iam, health = (limits(u) for u in (CHAINFIRE_JOIN, FLAREDB_JOIN, IAM_SETUP, HEALTH_CHECK))
    assert chainfire.wait_s == 0
    assert flaredb.wait_s == chainfire.timeout_start_sec
    assert iam.wait_s == flaredb.timeout_start_sec + flaredb.wait_s
    assert health.wait_s == iam.timeout_start_sec + iam.wait_s


def test_a_budget_term_must_name_a_config_field_or_a_fixed_budget() -> None:
    with pytest.raises(BudgetError, match="join.deadline"):
        budget_s("join.deadline")
    with pytest.raises(BudgetError, match="not a number"):
        budget_s("tls.enabled")
    with pytest.raises(BudgetError, match="empty run_budget"):
        run_s(CHAINFIRE_JOIN._replace(run_budget=()))


def test_longer_budgets_give_longer_windows() -> None:
    longer = CHAINFIRE_JOIN._replace(run_budget=(*CHAINFIRE_JOIN.run_budget, "health.timeout_s"))
    assert limits(longer).interval_sec == limits(CHAINFIRE_JOIN).interval_sec + 6 * 120


def test_readme_states_the_tries_and_when_a_unit_is_left_failed() -> None:
    readme = (ROOT / "README.md").read_text()
    assert start_limits_markdown() in readme and refresh_generated(readme) == readme
    for lim in all_limits():
        row = next(line for line in readme.splitlines() if line.startswith(f"| `{lim.unit}` |") and "restarts" in line)
        assert f"| {lim.burst} (1 + {lim.burst - 1} restarts) | {lim.interval_sec} s |" in row
        assert f"{lim.failed_after_s / 60:.0f} min after its first start" in row
