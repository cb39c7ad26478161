"""A cluster's pace: measure its slowness factor from the first boot, and explain boot timeouts.

`measure` watches one node's console (polling once a second, so the figure is at most 1 s
late) until systemd reports network-online.target, or the READY line if the image does not
print systemd's status lines, and turns the time since its QEMU started into a `Slowness`.
`explain` turns a readiness timeout into one that says which factor the budget assumed and
how far the guest got (its last boot step on the console).
"""

from __future__ import annotations

import re
from typing import Protocol

from harness.errors import HarnessError
from harness.slowness import NETWORK_ONLINE_PATTERN, REFERENCE_NETWORK_ONLINE_S, Slowness, last_step
from harness.waits import POLL_EVERY_SECOND, Clock, Observation, Sleep, WaitExpired, wait_until

__all__ = ["BOOT_BASE_S", "NEVER", "REFERENCE_READY_S", "explain", "measure"]

NEVER: re.Pattern[str] = re.compile(r"(?!)")
"""For a node without a ready pattern: only network-online counts."""

BOOT_BASE_S = 120.0
"""QEMU start -> READY line, base budget (x the factor): the design's first boot is done at
T+40 s (bootstrap) / T+45 s (join) with KVM; the rest is headroom for peers that start late
and for the restarts of a joiner that cannot reach its leader."""

REFERENCE_READY_S = 48.0
"""QEMU start -> READY with KVM (T+45 s plus firmware and kernel): the fallback reference."""


class Booting(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def started_at(self) -> float | None: ...
    def get_console_log(self) -> str: ...


class BootConsole(Protocol):
    def since_mark(self) -> str: ...


def measure(
    node: Booting,
    console: BootConsole,
    ready: str | re.Pattern[str] | None,
    *,
    timeout: float,
    deadline_cap: float | None,
    clock: Clock,
    sleep: Sleep,
) -> Slowness:
    """The slowness factor from `node`'s boot: its network-online (or READY) time.

    Raises:
        WaitExpired: neither line within `timeout`; the message names the last boot step.
        HarnessError: `node` was never started.
    """
    if node.started_at is None:
        raise HarnessError(f"cannot measure the slowness factor on {node.name}: it was not started; start it first")
    seen: list[tuple[str, float]] = []
    milestones = (("network-online.target", NETWORK_ONLINE_PATTERN, REFERENCE_NETWORK_ONLINE_S),
                  ("the READY line", re.compile(ready) if isinstance(ready, str) else ready or NEVER,
                   REFERENCE_READY_S))  # fmt: skip

    def look(_left: float) -> Observation:
        text = console.since_mark()
        for milestone, pattern, reference in milestones:
            if pattern.search(text):
                seen.append((milestone, reference))
                return Observation(ok=True)
        return Observation(ok=False, detail=f"last boot step: {last_step(text) or 'none yet'}", output=text)

    wait_until(look, what=f"network-online.target on {node.name}'s console (to measure the slowness factor)",
               timeout=timeout, clock=clock, sleep=sleep, deadline_cap=deadline_cap,
               backoff=POLL_EVERY_SECOND)  # fmt: skip
    milestone, reference = seen[0]
    return Slowness.measured(clock() - node.started_at, node.name, milestone, reference)


def explain(err: WaitExpired, node: str, console: str, slowness: Slowness, base: float) -> WaitExpired:
    """`err` again, with the factor its budget assumed and the guest's last boot step."""
    step = last_step(console) or "no boot step on the console yet"
    extra = (
        f"budget {base:g} s x factor {slowness.describe()}; {node} got as far as: {step}; "
        "if the host is busy, pass a larger --tcg-factor or --timeout"
    )
    return WaitExpired(err.what, elapsed=err.elapsed, budget=err.budget, attempts=err.attempts, last=err.last,
                       last_completed=err.last_completed, extra=extra)  # fmt: skip
