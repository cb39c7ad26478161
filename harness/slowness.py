"""How slow this host is, and the one place a base budget becomes a wait budget.

Every boot, readiness and scenario wait in the harness is written as a *base* budget: what
it needs on the design's reference platform (KVM on a quiet host). The wait's real budget is

    wait_budget(base, factor, deadline) = min(base * factor, deadline - now)

where `factor` is the measured slowness of this run (the same factor the boot timelines
scale the design's budgets by, `harness.report.calibrate.platform_factor`) and `deadline` is
the run's deadline (`cluster-test --timeout`): no wait outlives the run.

The factor is measured early, from the first node of a cluster to print
`network-online.target` on its console: the design puts that milestone at T+5 s with KVM,
`REFERENCE_NETWORK_ONLINE_S` after QEMU starts counting firmware and kernel. All nodes of a
cluster start together, so the contention of the other VMs and of whatever else runs on the
host is in the measurement. Until it is measured a TCG run assumes `TCG_PRIOR_FACTOR`.
`cluster-test --tcg-factor F` replaces the measurement.

```python
slow = Slowness.measured(elapsed_s=41.0, node="node01")   # x5.1
budget = slow.budget(120.0, deadline=run_deadline)         # 615 s, or less near the deadline
```
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from harness.waits import Clock

__all__ = [
    "LAST_STEP_PATTERN",
    "MAX_FACTOR",
    "MIN_FACTOR",
    "NETWORK_ONLINE_PATTERN",
    "REFERENCE_NETWORK_ONLINE_S",
    "TCG_PRIOR_FACTOR",
    "Slowness",
    "last_step",
    "wait_budget",
]

MIN_FACTOR, MAX_FACTOR = 1.0, 100.0
"""Never below 1: a fast platform does not tighten the design's budgets. Never above 100: a
guest that slow is broken, and the run deadline caps every wait anyway."""

REFERENCE_NETWORK_ONLINE_S = 8.0
"""QEMU start -> `network-online.target` on the console with KVM: the design's T+5 s plus
~3 s of firmware, kernel and initramfs."""

TCG_PRIOR_FACTOR = 5.0
"""Assumed under TCG until measured (docs/harness-api.md: TCG budgets ~5x)."""

NETWORK_ONLINE_PATTERN: re.Pattern[str] = re.compile(r"Reached target .*(network-online\.target|Network is Online)")
"""systemd's status line on the serial console when the milestone is reached."""

LAST_STEP_PATTERN: re.Pattern[str] = re.compile(
    r"(?:Starting|Started|Finished|Reached target|Failed to start|FBA-[A-Z]+) [^\r\n]*"
)
"""Console lines that say how far a boot got (systemd's status lines, our FBA-* lines)."""

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def wait_budget(base: float, factor: float, deadline: float | None, now: float) -> float:
    """`base * factor` seconds, but never past `deadline` (an absolute clock value)."""
    budget = max(0.0, base) * factor
    if deadline is not None:
        budget = min(budget, max(0.0, deadline - now))
    return budget


def last_step(console: str) -> str:
    """The last console line that names a boot step (unit started, target reached), or ""."""
    found = LAST_STEP_PATTERN.findall(_ANSI.sub("", console))
    return found[-1].strip() if found else ""


@dataclass(frozen=True)
class Slowness:
    """The factor this run's budgets are scaled by, and how it was obtained."""

    factor: float
    how: str

    @classmethod
    def kvm(cls) -> Slowness:
        return cls(MIN_FACTOR, "KVM: the design's platform")

    @classmethod
    def assumed_tcg(cls) -> Slowness:
        return cls(TCG_PRIOR_FACTOR, "TCG, assumed until the first node reaches network-online")

    @classmethod
    def told(cls, factor: float) -> Slowness:
        return cls(_clamp(factor), "told (--tcg-factor)")

    @classmethod
    def measured(
        cls,
        elapsed_s: float,
        node: str,
        milestone: str = "network-online.target",
        reference_s: float = REFERENCE_NETWORK_ONLINE_S,
    ) -> Slowness:
        """From `elapsed_s`, QEMU start -> `milestone` on `node`'s console (`reference_s` with KVM)."""
        return cls(
            _clamp(elapsed_s / reference_s),
            f"measured: {node} reached {milestone} {elapsed_s:.1f} s after QEMU started "
            f"(reference {reference_s:g} s with KVM)",
        )

    def budget(self, base: float, *, deadline: float | None = None, clock: Clock = time.monotonic) -> float:
        """The wait budget for a `base` budget: see `wait_budget`."""
        return wait_budget(base, self.factor, deadline, clock())

    def describe(self) -> str:
        return f"x{self.factor:g} ({self.how})"


def _clamp(factor: float) -> float:
    return round(min(MAX_FACTOR, max(MIN_FACTOR, factor)), 2)
