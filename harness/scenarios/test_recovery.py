"""Scenarios 8, 9 and 10 of issue 5 on ONE 4-node cluster (node01-03 bootstrap, node04 joins).

S10 the three bootstrap nodes race for the IAM admin at first boot: exactly one admin user,
    exactly one node says it created it, every credentials file is 0600 in a 0700 directory,
    and no secret (bootstrap token, admin password, node tokens) appears in any journal or
    console log, checked again at the end of the module after every fault below.
S8  crash (SIGKILL) at failpoints of join and iam-setup, armed at boot through
    `ClusterOptions.node_failpoints`; each fires once per boot, systemd's Restart=on-failure
    runs the unit again, and the node converges: exactly-once membership of node04 on
    chainfire and flaredb, one admin, valid markers. node04 is then rebooted: its markers
    hold, no member add reaches the leader, still one entry.
    `iam.after-admin-create` is armed on all three racers: it fires after the create's answer
    whatever it was (201 for the winner, 409 for the others), so the winner must recover its
    own admin from the staged password on the next run, while the others must not create one.
    CI runs this subset (each point once, on the node where it fires in a first boot):
        node01 iam.after-admin-create, iam.after-token
        node02 iam.after-admin-create, iam.before-marker
        node03 iam.after-admin-create, marker.before-rename (its bootstrap marker)
        node04 join.after-add, join.after-verify
    FBA_SCENARIO_ALL_FAILPOINTS=1 arms the full set: node01 adds iam.before-create, node04
    adds join.before-request and marker.before-rename (each crash costs a RestartSec, ~10 s,
    plus a unit run under TCG).
S9  the design's manual procedures, run as written against node04, with one difference:
    `curl --cacert /etc/nixos/secrets/ca.crt` instead of `curl -k` (the cluster's TLS is
    verified; `-k` would accept any certificate). "node01.example.com" is the current
    chainfire leader (the design says "On leader"; a follower answers 421). First the
    rollback (DELETE the member on the leader, stop chainfire, wipe its data and the marker,
    restart the join unit): the automation joins again, once. Then the manual join (the same
    removal, chainfire started by hand, POST /admin/member/add, `date -Iseconds > marker`):
    node04 is a member once, follows the leader, and the join unit accepts the hand-written
    marker (exit 2, no request to the leader).
"""

from __future__ import annotations

import json
import os
import shlex
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from automation.spec.markers import Service, Step, marker_name
from automation.spec.units import CHAINFIRE_JOIN, IAM_SETUP, service_unit, unit_by_name
from harness import checks
from harness.cluster import pace
from harness.cluster.cluster import Cluster
from harness.cluster.journal import cursors
from harness.cluster.operational import wait_operational
from harness.cluster.topology import SERVICE_PORTS, Topology
from harness.errors import CheckFailed
from harness.faults import FaultRecorder, Faults
from harness.log import RunLog
from harness.machine.node import Node
from harness.scenarios.lab import StepChain, finish_lab
from harness.scenarios.probes import (
    CA,
    STATE_DIR,
    Slice,
    check_exactly_once,
    context,
    leader_id,
    marker_present,
    member_view,
    records,
    run,
    wait_exit,
    wait_leader,
)
from harness.scenarios.settings import RunSettings
from harness.waits import Observation, wait_until

pytestmark = pytest.mark.vm

NAME = "recovery"
BOOTSTRAP = ["node01", "node02", "node03"]
JOINER = "node04"
TOPOLOGY = Topology(bootstrap_nodes=3, join_nodes=1)
CREDENTIALS = "/etc/nixos/secrets/iam-admin.json"
ALL_FAILPOINTS = os.environ.get("FBA_SCENARIO_ALL_FAILPOINTS", "") not in ("", "0")
CI_FAILPOINTS: dict[str, list[str]] = {
    "node01": ["iam.after-admin-create", "iam.after-token"],
    "node02": ["iam.after-admin-create", "iam.before-marker"],
    "node03": ["iam.after-admin-create", "marker.before-rename"],
    JOINER: ["join.after-add", "join.after-verify"],
}
EXTRA_FAILPOINTS: dict[str, list[str]] = {
    "node01": ["iam.before-create"],
    JOINER: ["join.before-request", "marker.before-rename"],
}
ARMED = {n: CI_FAILPOINTS[n] + (EXTRA_FAILPOINTS.get(n, []) if ALL_FAILPOINTS else []) for n in CI_FAILPOINTS}
# Base budgets (the design's platform, KVM), x the run's slowness factor (Cluster.budget).
OPERATIONAL_BASE = 120.0  # start -> every node done, crashes and RestartSec included
REBOOT_BASE = pace.BOOT_BASE_S
UNIT_BASE = 36.0  # one manual-procedure step, incl. a fresh chainfire start
LEADER_BASE = 24.0  # the settled cluster names its leader


def unit_of(failpoint: str) -> str:
    return IAM_SETUP.name if failpoint.startswith("iam.") else CHAINFIRE_JOIN.name


@dataclass
class Lab(StepChain):
    cluster: Cluster
    faults: Faults
    done: set[str] = field(default_factory=set)
    times: dict[str, float] = field(default_factory=dict)
    states: dict[str, Any] = field(default_factory=dict)


@pytest.fixture(scope="module")
def lab(request: pytest.FixtureRequest, settings: RunSettings, run_log: RunLog) -> Iterator[Lab]:
    armed = {n: ",".join(f"{fp}=crash" for fp in fps) for n, fps in ARMED.items()}
    cluster = Cluster(settings.cluster_options(NAME, TOPOLOGY, node_failpoints=armed), run_log)
    faults: Faults | None = None
    try:
        cluster.up()
        cluster.start_all()
        faults = Faults.for_cluster(cluster, FaultRecorder(run_log, origin=time.monotonic()))
        state = Lab(cluster, faults)
        cluster.wait_ready()
        state.states = wait_operational(cluster)
        state.times["operational_s"] = time.monotonic() - (cluster.started_at or time.monotonic())
        yield state
    finally:
        finish_lab(request, settings, run_log, cluster, faults, NAME, heal=False)


def bearer() -> str:
    # The token is read inside the guest, so it never passes through the harness's logs.
    return '-H "Authorization: Bearer $(cat /etc/nixos/secrets/iam-bootstrap-token)"'


def admins(node: Node) -> list[str]:
    url = f"'https://{node.name}:{SERVICE_PORTS[Service.IAM]}/users?role=admin'"
    out = node.succeed(f"curl -sf --max-time 10 --cacert {CA} {bearer()} {url}", timeout=60)
    return [u["name"] for u in json.loads(out)["users"]]


def credentials(node: Node) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(node.succeed(f"cat {CREDENTIALS}", timeout=30))
    return data


def check_one_admin(cluster: Cluster) -> None:
    for name in BOOTSTRAP:
        found = admins(cluster[name])
        assert found == ["admin"], f"{name} sees admin users {found}"
    claims = [n for n in BOOTSTRAP if credentials(cluster[n]).get("admin_status") == "created"]
    assert len(claims) == 1, f"{len(claims)} nodes claim to have created the admin: {claims}"


def check_no_secrets_anywhere(cluster: Cluster) -> None:
    secrets = list(cluster.secrets.secret_strings())
    for node in cluster:
        secrets += checks.secrets_of(node, CREDENTIALS)
    assert len(secrets) >= 1 + len(cluster.nodes), "expected the bootstrap token and one node token per node"
    for node in cluster:
        checks.check_no_secrets(node, secrets)


def leader_adds_since(cluster: Cluster, since: dict[str, str]) -> list[str]:
    """POST /admin/member/add lines the bootstrap nodes' chainfire logged after `since`."""
    found = []
    for name, cursor in since.items():
        out = cluster[name].succeed(
            f"journalctl -b -u {service_unit(Service.CHAINFIRE)} --after-cursor={shlex.quote(cursor)}"
            " -o cat --no-pager",
            timeout=60,
        )
        found += [f"{name}: {line}" for line in out.splitlines() if "/admin/member/add" in line]
    return found


# -- scenario 10: the IAM admin race -----------------------------------------------------------


def test_s10_one_admin_private_credentials(lab: Lab) -> None:
    cluster = lab.cluster
    assert all(s["status"] == "done" for s in lab.states.values()), lab.states
    check_one_admin(cluster)
    for node in cluster:
        mode = node.succeed(f"stat -c %a {CREDENTIALS} $(dirname {CREDENTIALS})", timeout=30).split()
        assert mode == ["600", "700"], f"{node.name}: credentials/dir modes {mode}"
        assert credentials(node).get("node_token"), f"{node.name}: no node token stored"
    outcomes = {n: [r["message"] for r in records(cluster[n], IAM_SETUP.name)] for n in BOOTSTRAP}
    created = [n for n, ms in outcomes.items() if "Admin user created" in ms]
    assert len(created) >= 1, outcomes  # the winner logs it again on its recovery run
    assert lab.times["operational_s"] <= cluster.scaled(OPERATIONAL_BASE), lab.times
    lab.done.add("s10")


def test_s10_no_secret_in_any_log_after_the_race(lab: Lab) -> None:
    check_no_secrets_anywhere(lab.cluster)


# -- scenario 8: crash at failpoints, then converge and boot again ---------------------------------


def test_s8_every_armed_failpoint_fired_and_the_units_recovered(lab: Lab) -> None:
    cluster = lab.cluster
    missing = []
    for name, fps in ARMED.items():
        node = cluster[name]
        for fp in fps:
            log = records(node, unit_of(fp))
            if not any(r.get("message") == "Failpoint fired" and context(r).get("failpoint") == fp for r in log):
                missing.append(f"{name} {fp}")
        for unit in {unit_of(fp) for fp in fps}:
            # After a crash the rerun finds the node listed: exit 2 ("already a member"), which
            # systemd counts as success (SuccessExitStatus from the unit graph), like exit 0.
            status, result = node.unit_exit_status(unit)
            allowed = {0, *unit_by_name(unit).success_exit_status}
            assert result == "success" and status in allowed, f"{name} {unit}: {(status, result)}"
            restarts = int(node.get_unit_property(unit, "NRestarts") or "0")
            want = sum(1 for fp in fps if unit_of(fp) == unit)
            assert restarts >= want, f"{name} {unit}: {restarts} restarts for {want} crashes"
    assert not missing, f"armed failpoints that never fired: {missing}"
    lab.done.add("s8-fired")


def test_s8_exactly_once_membership_one_admin_valid_markers(lab: Lab) -> None:
    lab.require("s8-fired")
    cluster = lab.cluster
    names = sorted(cluster.nodes)
    for service in (Service.CHAINFIRE, Service.FLAREDB):
        view = check_exactly_once(cluster, service, JOINER, BOOTSTRAP, cluster.budget(LEADER_BASE))
        assert sorted(m["id"] for m in view["members"]) == names, view
    check_one_admin(cluster)
    stray: dict[str, list[str]] = {}
    for spec in cluster.topology.nodes:
        checks.check_markers(cluster[spec.name], bootstrap=spec.bootstrap)
        checks.check_unit_exits(cluster[spec.name])
        found = cluster[spec.name].execute(f"ls -A {STATE_DIR} | grep '\\.tmp-' || true", timeout=30)[1].split()
        if found:
            stray[spec.name] = found
    # A crash between fsync and rename (marker.before-rename) leaves its temp file; the unit's
    # rerun must remove it (MarkerStore.ensure_directory, before any marker is written), so
    # none may be left once every unit converged.
    assert not stray, f"temp files of crashed marker writes left behind: {stray}"
    lab.done.add("s8")


def test_s8_boot_again_keeps_one_entry_and_sends_no_add(lab: Lab) -> None:
    lab.require("s8")
    cluster = lab.cluster
    node = cluster[JOINER]
    since = cursors(cluster, BOOTSTRAP)
    begin = time.monotonic()
    lab.faults.reboot(JOINER)
    cluster.wait_ready([JOINER])
    state = wait_operational(cluster, [JOINER])[JOINER]
    lab.times["reboot_s"] = time.monotonic() - begin
    assert state["status"] == "done", state
    assert lab.times["reboot_s"] <= cluster.scaled(REBOOT_BASE), lab.times
    messages = [r["message"] for r in records(node, CHAINFIRE_JOIN.name)]
    assert any(m.startswith("Node already member of cluster (marker present)") for m in messages), messages
    assert not any(r["message"] == "Failpoint fired" for r in records(node, CHAINFIRE_JOIN.name))
    adds = leader_adds_since(cluster, since)
    assert not adds, f"node04 rebooted with its marker, yet a member add reached the cluster: {adds}"
    for service in (Service.CHAINFIRE, Service.FLAREDB):
        check_exactly_once(cluster, service, JOINER, BOOTSTRAP, cluster.budget(LEADER_BASE))
    lab.done.add("s8-reboot")


# -- scenario 9: the design's manual rollback and manual join ---------------------------------------


def _leader(cluster: Cluster) -> str:
    lid = leader_id(wait_leader(cluster, Service.CHAINFIRE, BOOTSTRAP, timeout=cluster.budget(LEADER_BASE)))
    assert lid is not None
    return lid


def _leader_for_removal(cluster: Cluster) -> str:
    """Where the rollback's DELETE goes. A Raft leader cannot remove itself here (the stand-in
    answers 409 "cannot remove the current leader"), so when the node to remove is the leader,
    the rollback's next step, stopping its service, comes first and another node takes over."""
    leader = _leader(cluster)
    if leader != JOINER:
        return leader
    cluster[JOINER].succeed(f"systemctl stop {service_unit(Service.CHAINFIRE)}", timeout=60)
    return _leader(cluster)


def _remove(cluster: Cluster, leader: str) -> dict[str, Any]:
    """The rollback's first step, as written ("On leader"), with --cacert for -k."""
    out = cluster[leader].succeed(
        f"curl --cacert {CA} -X DELETE https://{leader}:2379/admin/member/{JOINER}", timeout=60
    )
    body: dict[str, Any] = json.loads(out)
    assert body.get("removed", {}).get("id") == JOINER, body
    return body


WIPE = (
    f"systemctl stop {service_unit(Service.CHAINFIRE)}\n"
    "rm -rf /var/lib/chainfire/*\n"
    f"rm {STATE_DIR}/{marker_name(Service.CHAINFIRE, Step.JOINED)}\n"
)


def test_s9_rollback_procedure_then_the_automation_joins_again(lab: Lab) -> None:
    lab.require("s8-reboot")
    cluster = lab.cluster
    node = cluster[JOINER]
    # Every boot re-arms the injected failpoints (and /run's fired record is new): disarm them,
    # or the rejoin below would crash at join.after-add like the first boot did.
    lab.faults.set_env(JOINER, {"FBA_FAILPOINTS": None})
    leader = _leader_for_removal(cluster)
    _remove(cluster, leader)
    view = member_view(cluster[leader], Service.CHAINFIRE)
    assert view is not None and JOINER not in [m["id"] for m in view["members"]], view
    begin = time.monotonic()
    node.succeed(WIPE + f"systemctl restart {CHAINFIRE_JOIN.name}", timeout=cluster.budget(UNIT_BASE))
    wait_exit(node, CHAINFIRE_JOIN.name, 0, timeout=cluster.budget(UNIT_BASE))
    lab.times["rollback_rejoin_s"] = time.monotonic() - begin
    assert marker_present(node, Service.CHAINFIRE, Step.JOINED)
    messages = [r["message"] for r in records(node, CHAINFIRE_JOIN.name)]
    assert "Successfully joined cluster" in messages[-3:], messages[-6:]
    check_exactly_once(cluster, Service.CHAINFIRE, JOINER, BOOTSTRAP, cluster.budget(LEADER_BASE))
    lab.done.add("s9-rollback")


def test_s9_manual_join_as_written_and_the_unit_accepts_its_marker(lab: Lab) -> None:
    lab.require("s9-rollback")
    cluster = lab.cluster
    node = cluster[JOINER]
    leader = _leader_for_removal(cluster)
    _remove(cluster, leader)
    node.succeed(WIPE + f"systemctl start {service_unit(Service.CHAINFIRE)}", timeout=cluster.budget(UNIT_BASE))
    health = f"curl -sf --max-time 5 --cacert {CA} https://{JOINER}:2379/health"
    wait_until(
        lambda left: Observation(ok=run(node, health, Slice.of(left, time.monotonic).left())[0] == 0),
        what="node04's fresh chainfire to answer /health",
        timeout=cluster.budget(UNIT_BASE),
    )
    raft_addr = f"{cluster.topology.node(JOINER).ip}:2380"
    payload = json.dumps({"id": JOINER, "raft_addr": raft_addr}, separators=(",", ":"))
    added = node.succeed(
        f"curl --cacert {CA} -X POST https://{leader}:2379/admin/member/add \\\n"
        '-H "Content-Type: application/json" \\\n'
        f"-d {shlex.quote(payload)}\n",
        timeout=60,
    )
    assert json.loads(added).get("added", {}).get("id") == JOINER, added
    node.succeed(f"mkdir -p {STATE_DIR}\ndate -Iseconds > {STATE_DIR}/{marker_name(Service.CHAINFIRE, Step.JOINED)}")
    check_exactly_once(cluster, Service.CHAINFIRE, JOINER, BOOTSTRAP, cluster.budget(LEADER_BASE))

    def follows(left: float) -> Observation:
        view = member_view(node, Service.CHAINFIRE, Slice.of(left, time.monotonic).left())
        return Observation(ok=leader_id(view) is not None and bool((view or {}).get("has_quorum")), detail=str(view))

    wait_until(follows, what="node04's chainfire to follow the leader", timeout=cluster.budget(UNIT_BASE))
    since = cursors(cluster, BOOTSTRAP)
    node.succeed(f"systemctl restart {CHAINFIRE_JOIN.name}", timeout=cluster.budget(UNIT_BASE))
    status = wait_exit(node, CHAINFIRE_JOIN.name, 2, timeout=cluster.budget(UNIT_BASE))
    assert status == (2, "success"), status  # 2 is a success status of the join unit
    last = records(node, CHAINFIRE_JOIN.name)[-1]
    # The hand-written marker names no node: fba reads the leader's list once, finds node04
    # listed, and re-writes the marker with node04's identity (issue 12, kind F).
    assert last["message"].startswith("Node already member of cluster (marker"), last
    adds = leader_adds_since(cluster, since)
    assert not adds, f"the hand-written marker should stop the unit before any member add: {adds}"
    check_exactly_once(cluster, Service.CHAINFIRE, JOINER, BOOTSTRAP, cluster.budget(LEADER_BASE))
    rc, out = node.execute("fba health-report", timeout=120)
    if rc != 0:
        raise CheckFailed(f"node04: fba health-report after the manual join exited {rc}: {out[-800:]}")
    lab.done.add("s9")


def test_no_secret_in_any_log_at_the_end(lab: Lab) -> None:
    check_no_secrets_anywhere(lab.cluster)
    print(f"\nrecovery times: {json.dumps({k: round(v, 1) for k, v in lab.times.items()})}")
