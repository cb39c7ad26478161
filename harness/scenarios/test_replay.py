"""Replay a declarative fault schedule against a fresh cluster: `FBA_REPLAY=FILE` (what
`cluster-test --replay FILE` sets), optionally `FBA_REPLAY_SEED=N` to override the file's seed.

The schedule is resolved into a concrete plan first (printed and saved as `plan.json`, so the
exact faults of a run can be read and replayed), applied from the moment the nodes start, and
every fault is healed at the end. Settling is waited for, never slept: every node's
`fba status --wait` within the operational budget plus the schedule's `settle_s`, scaled.
Then the invariants every schedule must leave intact:
every node finishes first boot, each node is listed exactly once in chainfire and flaredb, the
markers are valid, and there is exactly one IAM admin. The fault timeline is drawn over the
unit timeline in `timeline.svg`.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from automation.spec.markers import Service
from harness import checks
from harness.cluster.cluster import Cluster
from harness.cluster.operational import OPERATIONAL_BASE, wait_operational
from harness.cluster.topology import SERVICE_PORTS, Topology
from harness.errors import CheckFailed
from harness.faults import FaultRecorder, Faults, Plan, StepOutcome, load_schedule, run_plan
from harness.log import RunLog
from harness.report.fault_timeline import write_fault_timeline
from harness.scenarios.lab import report_dir
from harness.scenarios.settings import Keep, RunSettings

pytestmark = pytest.mark.vm

REPLAY_ENV = "FBA_REPLAY"
SEED_ENV = "FBA_REPLAY_SEED"
CA = "/etc/nixos/secrets/ca.crt"


class Replayed(NamedTuple):
    cluster: Cluster
    faults: Faults
    plan: Plan
    outcomes: list[StepOutcome]
    states: dict[str, Any]
    """Each node's `fba status` once the cluster settled (or at the settle deadline)."""


def _schedule_path() -> Path:
    value = os.environ.get(REPLAY_ENV)
    if not value:
        pytest.skip(f"no schedule to replay: set {REPLAY_ENV}=FILE (cluster-test --replay FILE)")
    return Path(value)


@pytest.fixture(scope="module")
def replayed(request: pytest.FixtureRequest, settings: RunSettings, run_log: RunLog) -> Iterator[Replayed]:
    path = _schedule_path()
    schedule = load_schedule(path)
    topology = Topology(bootstrap_nodes=schedule.topology.bootstrap_nodes, join_nodes=schedule.topology.join_nodes)
    seed = int(os.environ[SEED_ENV]) if os.environ.get(SEED_ENV) else None
    plan = schedule.plan(seed=seed, nodes=[n.name for n in topology.nodes])
    out = report_dir(settings, f"replay-{plan.name}")
    (out / "plan.json").write_text(plan.as_json() + "\n")
    run_log.log(f"replaying {path} (seed {plan.seed}): {len(plan.steps)} steps, faults end at T+{plan.end_s:.0f}s")
    cluster = Cluster(settings.cluster_options(f"replay-{plan.name}", topology), run_log)
    faults: Faults | None = None
    try:
        cluster.up()
        faults = Faults.for_cluster(cluster, FaultRecorder(run_log, origin=time.monotonic()))
        cluster.start_all()
        outcomes = run_plan(faults, plan, log=run_log.log)
        # The cluster has settled when every node's first boot is done: wait for that (bounded:
        # the operational budget plus the schedule's settle_s, x the slowness factor), not for a
        # fixed time. It does not raise; the states at the deadline are judged by the tests.
        states = wait_operational(cluster, base=OPERATIONAL_BASE + plan.settle_s)
        run_log.log(f"replay: settled: {json.dumps({n: s.get('status') for n, s in states.items()})}")
        yield Replayed(cluster, faults, plan, outcomes, states)
    finally:
        if faults is not None:
            try:
                faults.heal_all()
            finally:
                (out / "faults.json").write_text(json.dumps(faults.recorder.as_json(), indent=2) + "\n")
        failed = request.session.testsfailed > 0
        if settings.keep is Keep.ALWAYS or (settings.keep is Keep.ON_FAILURE and failed):
            cluster.print_attach()
            run_log.log(f"replay: cluster-test --replay {path} (FBA_REPLAY_SEED={plan.seed})")
        else:
            cluster.down()


def test_replay_every_node_converges(replayed: Replayed) -> None:
    cluster, _faults, plan, outcomes, states = replayed
    assert len(outcomes) == len(plan.steps), outcomes
    not_done = {n: s for n, s in states.items() if s["status"] != "done"}
    assert not not_done, f"not done after schedule {plan.name} (seed {plan.seed}): {json.dumps(not_done, indent=1)}"
    for spec in cluster.topology.nodes:
        checks.check_markers(cluster[spec.name], bootstrap=spec.bootstrap)


def test_replay_membership_exactly_once(replayed: Replayed) -> None:
    cluster, _faults, plan, _outcomes, _states = replayed
    names = sorted(cluster.nodes)
    leader = cluster.topology.leader.name
    for service in (Service.CHAINFIRE, Service.FLAREDB):
        out = cluster[leader].succeed(
            f"curl -sf --cacert {CA} https://{leader}:{SERVICE_PORTS[service]}/admin/members", timeout=60
        )
        ids = sorted(m["id"] for m in json.loads(out)["members"])
        if ids != names:
            raise CheckFailed(
                f"schedule {plan.name} (seed {plan.seed}): {service.value} members {ids}, expected {names}"
            )


def test_replay_one_admin(replayed: Replayed) -> None:
    cluster, _faults, plan, _outcomes, _states = replayed
    leader = cluster.topology.leader.name
    out = cluster[leader].succeed(
        f'curl -sf --cacert {CA} -H "Authorization: Bearer $(cat /etc/nixos/secrets/iam-bootstrap-token)" '
        f"'https://{leader}:8080/users?role=admin'",
        timeout=60,
    )
    admins = [u["name"] for u in json.loads(out)["users"]]
    assert admins == ["admin"], f"schedule {plan.name} (seed {plan.seed}): admins {admins}"


def test_replay_timeline(replayed: Replayed, settings: RunSettings) -> None:
    cluster, faults, plan, outcomes, _states = replayed
    factor = cluster.slowness().factor  # the factor every wait of the run used
    out = report_dir(settings, f"replay-{plan.name}")
    timelines = write_fault_timeline(cluster, faults, out, factor)
    records = faults.recorder.records
    # Each planned step injected exactly one fault of its own kind (Faults.apply: the schedule
    # name is the record's kind), in the order the plan started them, and nothing else did.
    assert [r.kind for r in records] == [s.fault for s in plan.steps], [(r.id, r.kind, r.label) for r in records]
    # run_plan healed every fault by the end (instant ones end when applied), without errors.
    assert [(r.kind, r.label) for r in records if r.end_s is None] == []
    assert [(r.kind, r.label, r.error) for r in records if r.error] == []
    # Never early, and recorded when the runner started it: the recorder counts from before
    # cluster.start_all(), the runner from after, so the two differ by one constant offset.
    by_index = {o.index: o for o in outcomes}
    in_plan_order = [by_index[s.index] for s in plan.steps]
    assert [o for o in in_plan_order if o.started_s < o.planned_s - 0.01] == []
    offsets = [r.start_s - o.started_s for r, o in zip(records, in_plan_order, strict=True)]
    assert max(offsets) - min(offsets) < 1.0, list(zip([r.label for r in records], offsets, strict=True))
    # The picture has one bar per fault, and the files name them.
    assert len(timelines[-1].bars) == len(records)
    saved = json.loads((out / "faults.json").read_text())
    assert [(f["id"], f["kind"]) for f in saved] == [(r.id, r.kind) for r in records]
    svg = (out / "timeline.svg").read_text()
    assert all(r.kind in svg for r in records), [r.kind for r in records if r.kind not in svg]
