"""Waiting for a cluster to be operational: every node's first boot done, as the node itself
reports it (`fba status --wait`), within one scaled budget."""

from __future__ import annotations

import json
import time
from typing import Any

from harness.cluster.cluster import Cluster
from harness.waits import MIN_ATTEMPT

OPERATIONAL_BASE = 120.0
"""Base budget (x the slowness factor, see `Cluster.budget`) for every node's first boot to be done."""
STATUS_SLACK = 10.0
"""`fba status --wait` gets this much less than the SSH command, so it reports before the cut."""


def wait_operational(
    cluster: Cluster, names: list[str] | None = None, *, base: float = OPERATIONAL_BASE
) -> dict[str, Any]:
    """`fba status --wait` in every guest (our own bounded status command, dogfooded), all
    within one scaled budget: each node gets what the ones before it left."""
    states = {}
    end = time.monotonic() + cluster.budget(base)
    for name in names or list(cluster.nodes):
        left = max(MIN_ATTEMPT, end - time.monotonic())
        out = cluster[name].succeed(
            f"fba status --wait --timeout {max(1.0, left - STATUS_SLACK):.0f} --format json || true",
            timeout=left,
        )
        states[name] = json.loads(out.strip().splitlines()[-1])
    return states
