"""Run fault schedule steps against a `ProcessCluster` and check the join invariants.

Shared by the hypothesis state machine (which chooses steps) and the replay command (which
reads them from a file). The model is what the test knows without asking the cluster: which
joiners started a join, which `fba join` runs ended how, which stand-ins are down.

Invariants, checked after every step:
  I1 no view lists an id or a Raft address twice, and every member has its own node's address;
  I2 every listed id belongs to a bootstrap node or a node whose join was started;
  I3 every node whose join exited 0 or 2 is listed by the leader;
  I4 a joined marker exists only for a node that is listed by the leader and one of whose
     runs succeeded or is still running (markers only after verified success);
  I5 no join run exits with a code other than 0, 1, 2 or the armed failpoint's.
The end state (CONVERGE): every started joiner exited 0/2, has its marker, and all live nodes
list exactly the bootstrap nodes plus the started joiners, each once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .cluster import BOOTSTRAP, JoinRun, ProcessCluster, View
from .schedule import Op, Schedule, Step

SUCCESS = (0, 2)
LEADER_WAIT = 8.0
CONVERGE_WAIT = 30.0
RETRIES_AT_CONVERGE = 3
POLL = 0.1


class InvariantViolation(AssertionError):
    """The cluster or a node broke a promise of the join; the message says which and what we saw."""


@dataclass
class FaultRun:
    cluster: ProcessCluster
    schedule: Schedule = field(default_factory=Schedule)
    runs: dict[int, list[JoinRun]] = field(default_factory=dict)
    killed: set[int] = field(default_factory=set)
    on_step: Callable[[Schedule], object] | None = None

    # -- model ---------------------------------------------------------------------------------
    @property
    def joiners(self) -> list[int]:
        return [n for n in self.cluster.hosts if n not in BOOTSTRAP]

    @property
    def started(self) -> set[int]:
        return {n for n in self.runs if n not in BOOTSTRAP}

    def not_started(self) -> list[int]:
        return [n for n in self.joiners if n not in self.runs]

    def running(self, n: int) -> bool:
        return any(r.poll() is None for r in self.runs.get(n, []))

    def succeeded(self, n: int) -> bool:
        return any(r.poll() in SUCCESS for r in self.runs.get(n, []))

    def failed_last(self) -> list[int]:
        """Nodes whose latest join ended without success and none succeeded."""
        return [n for n, rs in sorted(self.runs.items()) if rs and rs[-1].poll() is not None and not self.succeeded(n)]

    def down(self) -> set[int]:
        return self.killed | self.cluster.paused

    # -- set-up --------------------------------------------------------------------------------
    def bootstrap(self) -> None:
        for n in BOOTSTRAP:
            self.cluster.start_chainfire(n)
        for n in BOOTSTRAP:
            self.runs[n] = [self.cluster.fba_join(n)]
        self._wait_joins(BOOTSTRAP, 40.0)
        codes = {n: self.runs[n][-1].rc for n in BOOTSTRAP}
        if any(rc != 0 for rc in codes.values()):
            raise RuntimeError(f"bootstrap: fba join exit codes {codes}; see {self.cluster.workdir}/node0*/fba.log")
        self.wait_leader()

    # -- steps ---------------------------------------------------------------------------------
    def apply(self, step: Step) -> Step:
        """Run one step; returns it with what happened; raises InvariantViolation."""
        handler = {
            Op.JOIN: self._join,
            Op.KILL_LEADER: self._kill_leader,
            Op.PAUSE_LEADER: self._pause_leader,
            Op.RESUME: self._resume,
            Op.RESTART: self._restart,
            Op.REBOOT: self._reboot,
            Op.RETRY: self._retry,
            Op.CONVERGE: self._converge,
        }[step.op]
        hit, outcome = handler(step)
        done = step.model_copy(update={"hit": hit, "outcome": outcome})
        self.schedule.steps.append(done)
        if self.on_step:
            self.on_step(self.schedule)
        self.check()
        return done

    def _join(self, step: Step) -> tuple[int | None, str]:
        n = self._node(step)
        self.cluster.start_chainfire(n)
        self.killed.discard(n)
        self.runs.setdefault(n, []).append(self.cluster.fba_join(n, step.failpoints_env()))
        return n, "started"

    def _kill_leader(self, step: Step) -> tuple[int | None, str]:
        leader = self.wait_leader(required=False)
        if leader is None or self.down():
            return None, "skipped: no leader agreed" if leader is None else "skipped: a member is down"
        self.cluster.kill(leader)
        self.killed.add(leader)
        return leader, "killed"

    def _pause_leader(self, step: Step) -> tuple[int | None, str]:
        leader = self.wait_leader(required=False)
        if leader is None or self.down():
            return None, "skipped: no leader agreed" if leader is None else "skipped: a member is down"
        self.cluster.pause(leader)
        return leader, "paused"

    def _resume(self, step: Step) -> tuple[int | None, str]:
        paused = sorted(self.cluster.paused)
        for n in paused:
            self.cluster.resume(n)
        return (paused[0] if paused else None), f"resumed {paused}"

    def _restart(self, step: Step) -> tuple[int | None, str]:
        n = step.node if step.node is not None else min(self.killed, default=None)
        if n is None or n not in self.killed:
            return None, "skipped: nothing killed"
        self.cluster.start_chainfire(n)
        self.killed.discard(n)
        return n, "restarted"

    def _reboot(self, step: Step) -> tuple[int | None, str]:
        n = self._node(step)
        for run in self.runs.get(n, []):
            if run.poll() is None:
                run.interrupted = True
                run.proc.kill()
                run.rc = run.proc.wait(5.0)
        self.cluster.kill(n)
        self.cluster.reboot_counter(n)
        self.cluster.start_chainfire(n)
        self.killed.discard(n)
        self.runs.setdefault(n, []).append(self.cluster.fba_join(n, step.failpoints_env()))
        return n, "rebooted"

    def _retry(self, step: Step) -> tuple[int | None, str]:
        n = self._node(step)
        runs = self.runs.get(n)
        if not runs or runs[-1].poll() is None:
            return n, "skipped: join still running or never started"
        last = runs[-1]
        self.runs[n].append(self.cluster.fba_join(n, last.failpoints))
        return n, f"retried after rc {last.rc}"

    def _converge(self, step: Step) -> tuple[int | None, str]:
        for n in sorted(self.cluster.paused):
            self.cluster.resume(n)
        for n in sorted(self.killed):
            self.cluster.start_chainfire(n)
        self.killed.clear()
        self._wait_joins(list(self.runs), CONVERGE_WAIT + 30)
        retries = 0
        for _ in range(RETRIES_AT_CONVERGE):
            todo = self.failed_last()
            if not todo:
                break
            for n in todo:
                self.runs[n].append(self.cluster.fba_join(n, self.runs[n][-1].failpoints))
                retries += 1
            self._wait_joins(todo, CONVERGE_WAIT + 30)
        self._check_converged()
        return None, f"converged ({retries} unit restarts)"

    # -- checks --------------------------------------------------------------------------------
    def check(self) -> None:
        views = self.cluster.views()
        for v in views:
            self._check_view(v)
        leader = self.cluster.leader_view()
        for rs in self.runs.values():
            for r in rs:
                self._check_rc(r)
        if leader is None:
            return
        listed = set(leader.ids)
        for n in self.started | set(BOOTSTRAP):
            if self.succeeded(n) and self.cluster.node_id(n) not in listed:
                raise InvariantViolation(
                    f"I3: {self.cluster.node_id(n)}'s join exited "
                    f"{[r.rc for r in self.runs[n]]} but leader {leader.node} lists {leader.ids}"
                )
        for n in self.joiners:
            marker = self.cluster.marker(n)
            if not marker.exists():
                continue
            if not (self.succeeded(n) or self.running(n)):
                raise InvariantViolation(
                    f"I4: {marker} exists but no join run of {self.cluster.node_id(n)} succeeded "
                    f"(exit codes {[r.rc for r in self.runs.get(n, [])]})"
                )
            if self.cluster.node_id(n) not in listed:
                raise InvariantViolation(f"I4: {marker} exists but leader {leader.node} lists {leader.ids}")

    def _check_view(self, v: View) -> None:
        ids = v.ids
        addrs = [m.raft_addr for m in v.members]
        if len(set(ids)) != len(ids) or len(set(addrs)) != len(addrs):
            raise InvariantViolation(f"I1: node{v.node:02d} lists duplicates: {v.members}")
        allowed = {self.cluster.node_id(n) for n in (*BOOTSTRAP, *self.started)}
        for m in v.members:
            n = self.cluster.number(m.id)
            if n is None or m.raft_addr != self.cluster.raft_addr(n):
                raise InvariantViolation(f"I1: node{v.node:02d} lists {m} with a foreign address")
            if m.id not in allowed:
                raise InvariantViolation(f"I2: node{v.node:02d} lists {m.id}, whose join never started")

    def _check_rc(self, r: JoinRun) -> None:
        rc = r.poll()
        if rc is None or rc in (0, 1, 2) or r.interrupted:
            return
        fp_rc = {"crash": -9, "exit:1": 1}.get(r.failpoints.partition("=")[2]) if r.failpoints else None
        if rc == fp_rc:
            return
        raise InvariantViolation(
            f"I5: fba join on {self.cluster.node_id(r.node)} (boot {r.boot}, failpoints {r.failpoints!r}) "
            f"exited {rc}; see {self.cluster.node_dir(r.node) / 'fba.log'}"
        )

    def _check_converged(self) -> None:
        want = sorted(self.cluster.node_id(n) for n in (*BOOTSTRAP, *self.started))
        deadline = time.monotonic() + CONVERGE_WAIT
        views: list[View] = []
        for _ in range(int(CONVERGE_WAIT / POLL) + 1):
            views = self.cluster.views()
            if (
                len(views) == len(self.cluster.live())
                and views
                and all(sorted(v.ids) == want and v.leader is not None for v in views)
            ):
                break
            if time.monotonic() > deadline:
                break
            time.sleep(POLL)
        else:
            views = self.cluster.views()
        seen = {f"node{v.node:02d}": v.ids for v in views}
        for v in views:
            self._check_view(v)
            if sorted(v.ids) != want:
                raise InvariantViolation(
                    f"converge: after {CONVERGE_WAIT:.0f}s the live nodes list {seen}; want exactly {want}"
                )
        for n in sorted(self.started):
            codes = [r.poll() for r in self.runs[n]]
            if not self.succeeded(n):
                raise InvariantViolation(
                    f"converge: {self.cluster.node_id(n)} never joined: exit codes {codes}; "
                    f"see {self.cluster.node_dir(n) / 'fba.log'}"
                )
            if not self.cluster.marker(n).exists():
                raise InvariantViolation(
                    f"converge: {self.cluster.node_id(n)} exited {codes} but has no marker {self.cluster.marker(n)}"
                )

    # -- waits ---------------------------------------------------------------------------------
    def wait_leader(self, required: bool = True) -> int | None:
        deadline = time.monotonic() + LEADER_WAIT
        for _ in range(int(LEADER_WAIT / POLL) + 1):
            leader = self.cluster.leader()
            if leader is not None or time.monotonic() > deadline:
                break
            time.sleep(POLL)
        if leader is None and required:
            raise RuntimeError(f"no leader agreed by the live nodes {self.cluster.live()} within {LEADER_WAIT}s")
        return leader

    def _wait_joins(self, nodes: list[int] | tuple[int, ...], budget: float) -> None:
        deadline = time.monotonic() + budget
        for _ in range(int(budget / POLL) + 1):
            if not any(self.running(n) for n in nodes) or time.monotonic() > deadline:
                return
            time.sleep(POLL)

    def _node(self, step: Step) -> int:
        if step.node is None or step.node not in self.cluster.hosts:
            raise ValueError(f"step {step.describe()}: needs a node of {sorted(self.cluster.hosts)}")
        return step.node

    def close(self) -> None:
        for rs in self.runs.values():
            for r in rs:
                if r.proc.poll() is None:
                    r.proc.kill()
                    r.proc.wait(5.0)
        self.cluster.close()
