"""The fault picture of a scenario run: every node's unit timeline shaded by the faults that
acted on it, plus one block with every fault as a bar (`timeline.svg`, `timeline.json`,
`faults.json`). Shared by the join-fault scenarios and the schedule replay."""

from __future__ import annotations

import json
from pathlib import Path

from automation.spec.units import AUTOMATION_UNITS, EXTERNAL_UNITS
from harness import checks
from harness.cluster.cluster import Cluster
from harness.faults import Faults
from harness.report import timeline


def write_fault_timeline(cluster: Cluster, faults: Faults, out: Path, factor: float) -> list[timeline.NodeTimeline]:
    """`timeline.svg`: per node its units (T+ since its current boot's userspace start, with
    budgets) shaded by the faults that acted on it, then one "faults" block with every fault
    as a bar on the run's clock (T+ since the cluster started), so faults from before a
    node's reboot stay visible. Also `timeline.json` and `faults.json`."""
    units = [u.name for u in AUTOMATION_UNITS] + list(EXTERNAL_UNITS)
    timelines = []
    for spec in cluster.topology.nodes:
        node = cluster[spec.name]
        origin = faults.userspace_origin(spec.name)
        bars = {u: (t.started_s, t.exited_s or t.active_s) for u, t in checks.unit_times(node, units).items()}
        shaded = [
            timeline.FaultInterval(r.label, max(0.0, r.start_s - origin), None if r.end_s is None else r.end_s - origin)
            for r in faults.recorder.for_node(spec.name)
            if r.end_s is None or r.end_s > origin
        ]
        timelines.append(timeline.build(spec.name, bars, bootstrap=spec.bootstrap, factor=factor, faults=shaded))
    records = faults.recorder.records
    fault_bars = {f"#{r.id} {r.kind}: {r.label}"[:38]: (r.start_s, r.end_s) for r in records}
    timelines.append(timeline.build("faults (T+ since cluster start)", fault_bars, bootstrap=False, factor=factor))
    (out / "timeline.svg").write_text(timeline.svg(timelines))
    (out / "timeline.json").write_text(json.dumps([t.as_dict() for t in timelines], indent=2) + "\n")
    (out / "faults.json").write_text(json.dumps(faults.recorder.as_json(), indent=2) + "\n")
    return timelines
