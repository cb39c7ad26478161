"""`fba analyze`: per-step timings from systemd against the unit graph's budgets."""

from __future__ import annotations

import json
from collections.abc import Sequence

from automation import analyze
from automation.spec.exitcodes import ExitCode
from automation.systemd import Systemd

US = 1_000_000


def fake(units: dict[str, tuple[float, float]], userspace_s: float = 2.0) -> Systemd:
    def runner(argv: Sequence[str]) -> str | None:
        if argv[:2] != ["systemctl", "show"]:
            return ""
        if argv[-1].endswith(".service"):
            start, end = units.get(argv[-1], (0.0, 0.0))
            return (
                f"ExecMainStartTimestampMonotonic={int(start * US)}\n"
                f"ExecMainExitTimestampMonotonic={int(end * US)}\n"
            )
        return f"UserspaceTimestampMonotonic={int(userspace_s * US)}\n"

    return Systemd(runner=runner)


def test_within_and_over_budget() -> None:
    systemd = fake(
        {
            "chainfire-cluster-join.service": (10.0, 14.0),  # T+12 <= 15
            "flaredb-cluster-join.service": (14.0, 20.0),  # T+18 <= 25
            "iam-initial-setup.service": (20.0, 40.0),  # T+38 > 35: over
            "cluster-health-check.service": (40.0, 41.0),  # T+39 <= 40
        }
    )
    steps = analyze.timings(systemd, bootstrap=True, factor=1.0)
    assert [s.within_budget for s in steps] == [True, True, False, True]
    assert steps[0].finished_at_s == 12.0 and steps[0].duration_s == 4.0
    assert analyze.verdict(steps) is ExitCode.FAILED
    doubled = analyze.timings(systemd, bootstrap=True, factor=2.0)
    assert analyze.verdict(doubled) is ExitCode.OK
    text = analyze.render(steps, "text", 1.0)
    assert "OVER" in text and text.splitlines()[1].startswith("iam-initial-setup.service")  # slowest first
    assert json.loads(analyze.render(steps, "json", 1.0))["steps"][2]["within_budget"] is False


def test_units_that_never_ran_are_unfinished() -> None:
    steps = analyze.timings(fake({}), bootstrap=False, factor=1.0)
    assert all(s.finished_at_s is None and not s.within_budget for s in steps)
    assert "unfinished" in analyze.render(steps, "text", 1.0)
