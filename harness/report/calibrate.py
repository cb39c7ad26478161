"""How much slower than the host the guests run: the factor the design's budgets are scaled by.

The same CPU-bound Python loop runs on the host and, at the same time, in every guest (the
guests share the host's cores during boot too, so contention is part of the factor). Under
KVM the factor is about 1; under TCG on this 2-core host it is typically 10-30.
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


def host_seconds() -> float:
    best = min(
        float(subprocess.run([sys.executable, "-c", LOOP], capture_output=True, text=True, timeout=60, check=True).stdout)
        for _ in range(3)
    )
    return max(best, 1e-4)


def measure(nodes: Sequence[Runs]) -> float:
    """max over nodes of guest/host time for the loop, clamped to [1, 100]."""
    host = host_seconds()
    with ThreadPoolExecutor(max_workers=max(1, len(nodes))) as pool:
        guest = list(pool.map(lambda n: float(n.succeed(f'python3 -c "{LOOP}"', timeout=300).strip()), nodes))
    return round(min(MAX_FACTOR, max(MIN_FACTOR, max(guest) / host)), 1)
