"""Guest probes the fault scenarios share: member views, leader agreement, unit exits,
failpoints, `fba health-report`.

Every helper that waits takes a `timeout` and ends within it plus one poll: each attempt of
`wait_until` is handed the time left, and every command inside an attempt is capped by what
is left of it (`Slice`), so a slow or frozen guest cannot stretch one attempt past the
deadline (a look at three nodes with 30 s per command once overran a 240 s wait by 20 s).
A command that times out is an observation ("no answer"), not an error: the wait goes on.
Clock and sleep are injectable for the unit tests.
"""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from automation.spec.markers import Service, Step, marker_name
from harness import checks
from harness.cluster.topology import SERVICE_PORTS
from harness.errors import CheckFailed, GuestUnreachable, WaitTimeout
from harness.machine.node import Node
from harness.waits import Clock, Observation, Sleep, wait_until

__all__ = [
    "CA",
    "STATE_DIR",
    "UNIT_PROPS",
    "Slice",
    "check_exactly_once",
    "context",
    "entries",
    "fired",
    "health_report",
    "leader_id",
    "marker_present",
    "member_view",
    "records",
    "restart_unit",
    "wait_exit",
    "wait_fired",
    "wait_healthy",
    "wait_leader",
    "wait_run",
    "wait_ssh",
]

CA = "/etc/nixos/secrets/ca.crt"
STATE_DIR = "/var/lib/first-boot-automation"
COMMAND_CAP = 30.0
"""Longest a single probe command may take (it answers in ~1 s; more means the guest is busy)."""


class Guest(Protocol):
    """What the probes need of a `harness.machine.node.Node`."""

    @property
    def name(self) -> str: ...
    def execute(self, command: str, check_return: bool = True, check_output: bool = True,
                timeout: float | None = 900) -> tuple[int, str]: ...  # fmt: skip
    def succeed(self, *commands: str, timeout: float | None = None) -> str: ...


class Nodes(Protocol):
    def __getitem__(self, name: str) -> Any: ...


@dataclass(frozen=True)
class Slice:
    """The part of a wait one attempt may spend: commands inside it share what is left."""

    end: float
    clock: Clock

    @classmethod
    def of(cls, left: float, clock: Clock) -> Slice:
        return cls(clock() + left, clock)

    def left(self, cap: float = COMMAND_CAP) -> float:
        """Seconds the next command may take: what is left, at most `cap`, 0 when spent."""
        return max(0.0, min(cap, self.end - self.clock()))


def run(node: Guest, command: str, budget: float) -> tuple[int | None, str]:
    """`(rc, stdout)`, or `(None, why)` when the budget is spent or the guest did not answer."""
    if budget <= 0:
        return None, "no time left in this attempt"
    try:
        return node.execute(command, timeout=budget)
    except (WaitTimeout, GuestUnreachable) as err:
        return None, str(err)[:200]


def member_view(node: Guest, service: Service, timeout: float = COMMAND_CAP) -> dict[str, Any] | None:
    """GET /admin/members on the node's own API (TLS verified against the cluster CA);
    None when the node does not answer within `timeout`."""
    port = SERVICE_PORTS[service]
    curl_s = max(1, min(5, int(timeout)))
    rc, out = run(node, f"curl -sf --max-time {curl_s} --cacert {CA} https://{node.name}:{port}/admin/members", timeout)
    if rc != 0:
        return None
    try:
        body: dict[str, Any] = json.loads(out)
    except ValueError:
        return None
    return body


def leader_id(view: dict[str, Any] | None) -> str | None:
    leader = (view or {}).get("leader")
    return leader.get("id") if isinstance(leader, dict) else None


def wait_leader(cluster: Nodes, service: Service, via: Sequence[str], timeout: float, *,
                clock: Clock = time.monotonic, sleep: Sleep = time.sleep) -> dict[str, Any]:  # fmt: skip
    """The leader's member list, once every node in `via` names the same leader with quorum.

    Raises:
        WaitExpired: not within `timeout` (+ one poll); says what each node named last.
    """
    found: dict[str, Any] = {}

    def look(left: float) -> Observation:
        part = Slice.of(left, clock)
        views = {name: member_view(cluster[name], service, part.left()) for name in via}
        leaders = {leader_id(v) for v in views.values()}
        summary = json.dumps({n: [leader_id(v), (v or {}).get("has_quorum")] for n, v in views.items()})
        if len(leaders) != 1 or None in leaders:
            return Observation(ok=False, detail=summary)
        lid = leaders.pop()
        view = views.get(lid) if lid in views else member_view(cluster[str(lid)], service, part.left())
        if not view or not view.get("has_quorum"):
            return Observation(ok=False, detail=summary)
        found.clear()
        found.update(view)
        return Observation(ok=True, detail=summary)

    wait_until(look, what=f"{service.value} leader agreed by {list(via)}", timeout=timeout, clock=clock, sleep=sleep)
    return found


def entries(view: dict[str, Any], node_id: str) -> list[dict[str, Any]]:
    return [m for m in view.get("members", []) if m.get("id") == node_id]


def check_exactly_once(cluster: Any, service: Service, node_id: str, via: Sequence[str],
                       timeout: float) -> dict[str, Any]:  # fmt: skip
    """The leader lists `node_id` once, with its own Raft address, and no id or address twice."""
    view = wait_leader(cluster, service, via, timeout=timeout)
    spec = cluster.topology.node(node_id)
    port = 2380 if service is Service.CHAINFIRE else 2480
    mine = entries(view, node_id)
    if len(mine) != 1 or mine[0].get("raft_addr") != f"{spec.ip}:{port}":
        raise CheckFailed(f"{service.value} leader {leader_id(view)} lists {node_id} as {mine}; want exactly one "
                          f"entry with raft_addr {spec.ip}:{port}")  # fmt: skip
    ids = [m.get("id") for m in view["members"]]
    addrs = [m.get("raft_addr") for m in view["members"]]
    if len(set(ids)) != len(ids) or len(set(addrs)) != len(addrs):
        raise CheckFailed(f"{service.value} leader {leader_id(view)} lists duplicates: {view['members']}")
    return view


def records(node: Any, unit: str, timeout: float = 60) -> list[dict[str, Any]]:
    return checks.fba_records(node, unit, timeout=timeout)


def context(record: dict[str, Any]) -> dict[str, Any]:
    ctx = record.get("context")
    return ctx if isinstance(ctx, dict) else {}


def fired(node: Any, unit: str, failpoint: str, timeout: float = 60) -> bool:
    try:
        found = records(node, unit, timeout)
    except (WaitTimeout, GuestUnreachable):
        return False
    return any(
        r.get("message") == "Failpoint fired" and failpoint in (context(r).get("failpoint"), r.get("failpoint"))
        for r in found
    )


def wait_fired(node: Any, unit: str, failpoint: str, timeout: float, *,
               clock: Clock = time.monotonic, sleep: Sleep = time.sleep) -> float:  # fmt: skip
    """Seconds until `failpoint` fired in `unit` (its JSON record in the journal).

    Raises:
        WaitExpired: not within `timeout` (+ one poll).
    """
    started = clock()
    wait_until(
        lambda left: Observation(ok=fired(node, unit, failpoint, Slice.of(left, clock).left())),
        what=f"failpoint {failpoint} to fire in {unit} on {node.name}",
        timeout=timeout, clock=clock, sleep=sleep,
    )  # fmt: skip
    return clock() - started


EXIT_PROPS = ("ActiveState", "SubState", "ExecMainExitTimestampMonotonic", "ExecMainStatus", "Result")


def wait_exit(node: Guest, unit: str, status: int, timeout: float, *,
              clock: Clock = time.monotonic, sleep: Sleep = time.sleep) -> tuple[int, str]:  # fmt: skip
    """Until the unit's last run ended with `status` (other statuses are waited through:
    Restart=on-failure may still turn them into success). Returns `(status, Result)`.

    Raises:
        WaitExpired: not within `timeout` (+ one poll); says the unit's last state.
    """
    seen: list[tuple[int, str]] = []
    show = f"systemctl show {' '.join(f'-p {p}' for p in EXIT_PROPS)} {shlex.quote(unit)}"

    def look(left: float) -> Observation:
        rc, out = run(node, show, Slice.of(left, clock).left())
        if rc is None:
            return Observation(ok=False, detail=f"no answer: {out}")
        state = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
        got = (int(state.get("ExecMainStatus") or 0), state.get("Result", ""))
        seen[:] = [got]
        # A unit that never ran reads "inactive, status 0": require an exit time as well.
        ran = state.get("ExecMainExitTimestampMonotonic", "0") not in ("", "0")
        finished = ran and state.get("ActiveState") in ("active", "failed", "inactive")
        return Observation(ok=finished and got[0] == status, rc=rc, detail=f"{state} exit {got}")

    wait_until(look, what=f"{unit} on {node.name} to exit {status}", timeout=timeout, clock=clock, sleep=sleep)
    return seen[-1]


UNIT_PROPS = (
    "ActiveState",
    "SubState",
    "Result",
    "ExecMainStatus",
    "NRestarts",
    "InvocationID",
    "ExecMainStartTimestampMonotonic",
    "ExecMainExitTimestampMonotonic",
)
FINISHED = {"auto-restart", "exited", "failed", "dead"}


# The join-fault scenarios' wait for one unit run; it uses the real clock (its unit test
# patches this module's `wait_until`).
def wait_run(
    node: Node,
    unit: str,
    *,
    status: int,
    after: str | None = None,
    tolerate: frozenset[int] = frozenset(),
    timeout: float,
) -> dict[str, str]:
    """Wait until a run of `unit` (a new one if `after` names the previous InvocationID) has
    finished with exit `status`. A run that finished with another status fails at once,
    unless that status is in `tolerate` (e.g. retries of the unit's own restart policy)."""
    seen: dict[str, str] = {}
    show = f"systemctl show {' '.join(f'-p {p}' for p in UNIT_PROPS)} {shlex.quote(unit)}"

    def look(left: float) -> Observation:
        try:
            rc, out = node.execute(show, timeout=min(left, 60.0))
        except (WaitTimeout, GuestUnreachable) as err:  # still booting (SSH not up yet)
            return Observation(ok=False, detail=f"guest not reachable yet: {err}"[:200])
        if rc != 0:
            return Observation(ok=False, rc=rc, detail="systemctl show failed")
        seen.clear()
        seen.update(dict(line.split("=", 1) for line in out.splitlines() if "=" in line))
        fresh = after is None or seen.get("InvocationID") not in ("", after)
        finished = seen.get("SubState") in FINISHED and seen.get("ExecMainExitTimestampMonotonic", "0") != "0"
        code = int(seen.get("ExecMainStatus") or "0")
        if fresh and finished and code != status and code not in tolerate:
            journal = node.execute(f"journalctl -b -u {unit} -n 20 -o cat --no-pager", timeout=30)[1]
            raise CheckFailed(f"{node.name}: {unit} finished with status {code}, expected {status}: {seen}\n{journal}")
        state = {k: seen.get(k) for k in ("ActiveState", "SubState", "ExecMainStatus", "NRestarts")}
        return Observation(ok=fresh and finished and code == status, detail=json.dumps(state))

    wait_until(look, what=f"{unit} on {node.name} to finish with status {status}", timeout=timeout)
    return dict(seen)


def restart_unit(node: Guest, unit: str, timeout: float = 60) -> None:
    """reset-failed first: a unit at its StartLimitBurst refuses a plain restart."""
    q = shlex.quote(unit)
    node.succeed(f"systemctl reset-failed {q} || true; systemctl restart --no-block {q}", timeout=timeout)


def health_report(node: Guest, timeout: float = 120) -> tuple[int | None, dict[str, Any]]:
    """`fba health-report`'s exit code (None: no answer in `timeout`) and its summary."""
    rc, out = run(node, "fba health-report", timeout)
    for line in reversed(out.strip().splitlines()):
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and "message" in record:
            summary = context(record).get("summary") or record.get("summary") or {}
            return rc, {"message": record["message"], **summary}
    return rc, {"message": None, "raw": out[-500:]}


def wait_healthy(node: Guest, timeout: float, *, clock: Clock = time.monotonic, sleep: Sleep = time.sleep) -> None:
    """Until `fba health-report` exits 0 on `node`.

    Raises:
        WaitExpired: not within `timeout` (+ one poll); shows the last report.
    """

    def look(left: float) -> Observation:
        rc, summary = health_report(node, Slice.of(left, clock).left(cap=120))
        return Observation(ok=rc == 0, rc=rc, detail=json.dumps(summary)[:300])

    wait_until(look, what=f"fba health-report on {node.name} to exit 0", timeout=timeout, clock=clock, sleep=sleep)


def wait_ssh(node: Any, timeout: float) -> None:
    """Until a command runs over SSH (`Node.wait_until_succeeds` hands each try what is left)."""
    node.wait_until_succeeds("true", timeout=timeout)


def marker_present(node: Guest, service: Service, step: Step, timeout: float = 30) -> bool:
    return run(node, f"test -s {STATE_DIR}/{marker_name(service, step)}", timeout)[0] == 0
