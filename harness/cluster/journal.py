"""Journal positions across a cluster's nodes: take `cursors` before a step, then read only
what the nodes logged after it (`journalctl --after-cursor=...`)."""

from __future__ import annotations

import json
from collections.abc import Iterable

from harness.cluster.cluster import Cluster


def cursors(cluster: Cluster, names: Iterable[str]) -> dict[str, str]:
    """The newest journal cursor of each named node: later lines are "after this moment"."""
    out = {}
    for name in names:
        line = cluster[name].succeed("journalctl -b -n 1 -o json --no-pager", timeout=60).strip().splitlines()[-1]
        out[name] = json.loads(line)["__CURSOR"]
    return out
