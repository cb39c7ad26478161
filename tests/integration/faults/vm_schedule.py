"""Process fault schedule -> the VM harness's declarative schedule (`harness.faults.schedule`).

The process tier is event-driven (a step runs when the previous one returned); the VM format
is timed (`at_s`, `duration_s`). Each process step gets a slot of `SLOT_S` seconds, which
covers one `fba join` under TCG. The mapping, closest equivalent first:

| process step            | VM fault                                                    |
|-------------------------|-------------------------------------------------------------|
| kill_leader (SIGKILL)   | `crash` of the node the recorded run hit, healed (started   |
|                         | again on its disk) at the matching restart / converge       |
| pause_leader (SIGSTOP)  | `hang_service` chainfire.service (SIGSTOP of the service),  |
|                         | healed at resume / converge                                 |
| reboot node             | `reboot`                                                    |
| reboot with a failpoint | `failpoints` armed on the node, then `reboot` (noted: the   |
|                         | env file lives on /run, so arm it at boot to be exact)      |
| retry                   | nothing: systemd's Restart=on-failure does it               |
| converge                | the schedule ends; settling (<= `settle_s` extra), checks   |

Joiners boot with the cluster in VMs (the topology's `join_nodes`), so "join" marks when the
process run started a join; in VMs that join happens at boot. Leader-targeted steps use the
node the recorded run hit; the VMs may elect another leader. Everything not mapped exactly
is listed in the schedule's description.
"""

from __future__ import annotations

import json
from typing import Any

from automation.spec.markers import Service
from automation.spec.units import service_unit

from .cluster import BOOTSTRAP
from .schedule import Op, Schedule

SLOT_S = 20.0
SETTLE_S = 60.0


def _name(n: int) -> str:
    return f"node{n:02d}"


def convert(schedule: Schedule) -> str:
    """The VM schedule as JSON text (validated by `harness.faults.parse_schedule` in tests)."""
    steps: list[dict[str, Any]] = []
    notes: list[str] = []
    open_crash: dict[int, int] = {}  # node (0: "the leader", unknown) -> index of its crash step
    open_hang: dict[int, int] = {}
    joiners = sorted({s.node for s in schedule.steps if s.node is not None and s.node not in BOOTSTRAP})
    t = 0.0

    def close(index: int, at: float) -> None:
        steps[index]["duration_s"] = max(1.0, round(at - steps[index]["at_s"], 1))

    def target(hit: int | None) -> Any:
        # A hand-written schedule names no node: let the VM schedule's seed pick a bootstrap node.
        return _name(hit) if hit else {"choice": [_name(n) for n in BOOTSTRAP]}

    for i, step in enumerate(schedule.steps, 1):
        t = (i - 1) * SLOT_S
        skipped = (step.outcome or "").startswith("skipped")
        if step.op is Op.KILL_LEADER and not skipped:
            open_crash[step.hit or 0] = len(steps)
            steps.append({"at_s": t, "fault": "crash", "args": {"node": target(step.hit)}})
        elif step.op is Op.PAUSE_LEADER and not skipped:
            open_hang[step.hit or 0] = len(steps)
            unit = service_unit(Service.CHAINFIRE)
            steps.append({"at_s": t, "fault": "hang_service", "args": {"node": target(step.hit), "unit": unit}})
        elif step.op is Op.RESUME:
            for n in sorted(open_hang):
                close(open_hang.pop(n), t)
        elif step.op is Op.RESTART and open_crash:
            key = step.node if step.node in open_crash else min(open_crash)
            close(open_crash.pop(key), t)
        elif step.op is Op.REBOOT and step.node is not None:
            if step.failpoint:
                args = {"node": _name(step.node), "failpoints": step.failpoints_env()}
                steps.append({"at_s": t, "fault": "failpoints", "args": args})
                notes.append(
                    f"step {i}: {step.failpoints_env()} is armed in /run before the reboot, which "
                    "clears /run: arm it at boot (ClusterOptions.node_failpoints) to reproduce exactly"
                )
            at = t + (1.0 if step.failpoint else 0.0)
            steps.append({"at_s": at, "fault": "reboot", "args": {"node": _name(step.node)}})
        elif step.op is Op.JOIN and step.node is not None:
            armed = f"; arm {step.failpoints_env()} at boot (ClusterOptions.node_failpoints)" if step.failpoint else ""
            notes.append(f"step {i}: {_name(step.node)} joins at boot in VMs{armed}")
        elif step.op is Op.RETRY:
            notes.append(f"step {i}: retry of {_name(step.node or 0)} is systemd's Restart=on-failure")
        elif step.op is Op.CONVERGE:
            for n in sorted(open_hang):
                close(open_hang.pop(n), t)
            for n in sorted(open_crash):
                close(open_crash.pop(n), t)
        elif skipped:
            notes.append(f"step {i}: {step.op.value} was skipped in the recorded run ({step.outcome})")
    if any(s.op in (Op.KILL_LEADER, Op.PAUSE_LEADER) for s in schedule.steps):
        notes.append("leader steps act on the node that led in the recorded run; the VMs may elect another")
    if not steps:  # the VM format needs at least one step
        steps.append({"at_s": 0.0, "fault": "reboot", "args": {"node": _name(joiners[0] if joiners else 1)}})
        notes.append("no step maps onto a VM fault; a reboot stands in so the schedule is valid")
    description = "converted from a process-tier fault schedule"
    if schedule.failure:
        description += f" that failed: {schedule.failure[:300]}"
    if notes:
        description += ". Notes: " + "; ".join(notes)
    vm = {
        "name": "process-schedule",
        "description": description,
        "seed": 0,
        "settle_s": SETTLE_S,
        "topology": {"bootstrap_nodes": len(BOOTSTRAP), "join_nodes": max(joiners, default=3) - len(BOOTSTRAP)},
        "steps": steps,
    }
    return json.dumps(vm, indent=2)
