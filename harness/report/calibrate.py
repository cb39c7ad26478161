"""How much slower than the design's platform a node boots: the factor budgets are scaled by.

`platform_factor`: the design's timeline has network-online.target at T+5 s (with KVM); a node
that reached it at T+20 s runs on a platform 4x slower for boot work, and its first-boot
budgets are scaled by 4. This is measured per node in the same boot, so contention from the
other VMs is included. Never below 1: a fast platform does not tighten the design's budgets.

`cpu_factor`: the same CPU-bound Python loop on the host and in every guest at once. Reported
for information: under TCG it is 10-30x here, far more than the boot slows down, because
our units mostly wait (for health, for peers) rather than compute.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

LOOP = "import time;t=time.perf_counter();sum(i*i for i in range(300000));print(f'{time.perf_counter()-t:.6f}')"
MIN_FACTOR, MAX_FACTOR = 1.0, 100.0


class Runs(Protocol):
    def succeed(self, *commands: str, timeout: float | None = None) -> str: ...


def platform_factor(milestone_s: float | None, design_s: float) -> float:
    if milestone_s is None or milestone_s <= 0:
        return MIN_FACTOR
    return round(min(MAX_FACTOR, max(MIN_FACTOR, milestone_s / design_s)), 2)


def host_seconds() -> float:
    best = min(
        float(
            subprocess.run([sys.executable, "-c", LOOP], capture_output=True, text=True, timeout=60, check=True).stdout
        )
        for _ in range(3)
    )
    return max(best, 1e-4)


def cpu_factor(nodes: Sequence[Runs]) -> float:
    """max over nodes of guest/host time for the loop, clamped to [1, 100]."""
    host = host_seconds()
    with ThreadPoolExecutor(max_workers=max(1, len(nodes))) as pool:
        guest = list(pool.map(lambda n: float(n.succeed(f'python3 -c "{LOOP}"', timeout=300).strip()), nodes))
    return round(min(MAX_FACTOR, max(MIN_FACTOR, max(guest) / host)), 1)
