"""Replay a declarative fault schedule against a fresh cluster: `FBA_REPLAY=FILE` (what
`cluster-test --replay FILE` sets), optionally `FBA_REPLAY_SEED=N` to override the file's seed.

The schedule is resolved into a concrete plan first (printed and saved as `plan.json`, so the
exact faults of a run can be read and replayed), applied from the moment the nodes start, and
every fault is healed at the end. Then the invariants every schedule must leave intact:
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

import pytest

from automation.spec.markers import Service
from harness import checks
from harness.cluster.cluster import Cluster
from harness.cluster.topology import SERVICE_PORTS, Topology
from harness.errors import CheckFailed
from harness.faults import FaultRecorder, Faults, Plan, StepOutcome, load_schedule, run_plan
from harness.log import RunLog
from harness.scenarios.conftest import report_dir, wait_operational
from harness.scenarios.settings import Keep, RunSettings
from harness.scenarios.test_join_faults import write_fault_timeline

pytestmark = pytest.mark.vm

REPLAY_ENV = "FBA_REPLAY"
SEED_ENV = "FBA_REPLAY_SEED"
CA = "/etc/nixos/secrets/ca.crt"


def _schedule_path() -> Path:
    value = os.environ.get(REPLAY_ENV)
    if not value:
        pytest.skip(f"no schedule to replay: set {REPLAY_ENV}=FILE (cluster-test --replay FILE)")
    return Path(value)


@pytest.fixture(scope="module")
def replayed(
    request: pytest.FixtureRequest, settings: RunSettings, run_log: RunLog
) -> Iterator[tuple[Cluster, Faults, Plan, list[StepOutcome]]]:
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
        time.sleep(plan.settle_s)
        yield cluster, faults, plan, outcomes
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


def test_replay_every_node_converges(replayed: tuple[Cluster, Faults, Plan, list[StepOutcome]]) -> None:
    cluster, _faults, plan, outcomes = replayed
    assert len(outcomes) == len(plan.steps), outcomes
    states = wait_operational(cluster)
    not_done = {n: s for n, s in states.items() if s["status"] != "done"}
    assert not not_done, f"not done after schedule {plan.name} (seed {plan.seed}): {json.dumps(not_done, indent=1)}"
    for spec in cluster.topology.nodes:
        checks.check_markers(cluster[spec.name], bootstrap=spec.bootstrap)


def test_replay_membership_exactly_once(replayed: tuple[Cluster, Faults, Plan, list[StepOutcome]]) -> None:
    cluster, _faults, plan, _outcomes = replayed
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


def test_replay_one_admin(replayed: tuple[Cluster, Faults, Plan, list[StepOutcome]]) -> None:
    cluster, _faults, plan, _outcomes = replayed
    leader = cluster.topology.leader.name
    out = cluster[leader].succeed(
        f'curl -sf --cacert {CA} -H "Authorization: Bearer $(cat /etc/nixos/secrets/iam-bootstrap-token)" '
        f"'https://{leader}:8080/users?role=admin'",
        timeout=60,
    )
    admins = [u["name"] for u in json.loads(out)["users"]]
    assert admins == ["admin"], f"schedule {plan.name} (seed {plan.seed}): admins {admins}"


def test_replay_timeline(replayed: tuple[Cluster, Faults, Plan, list[StepOutcome]], settings: RunSettings) -> None:
    cluster, faults, plan, _outcomes = replayed
    factor = cluster.slowness().factor  # the factor every wait of the run used
    write_fault_timeline(cluster, faults, report_dir(settings, f"replay-{plan.name}"), factor)
    assert len(faults.recorder.records) >= len(plan.steps)
