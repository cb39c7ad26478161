"""The Raft state machine on pysyncobj: membership (id -> raft_addr, api_url) and a KV map.

Membership has a single source of truth: pysyncobj's own node set. Every node object is a
`MemberNode` carrying the member id and API URL, and pysyncobj pickles the whole object into
its membership log entries and snapshots, so the id map can never drift from the Raft
configuration. The KV map is a `SyncObjConsumer` whose writes are decided when a log entry
is applied, which makes `create_only` atomic cluster-wide.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pysyncobj import FAIL_REASON, SyncObj, SyncObjConf, SyncObjConsumer, replicated
from pysyncobj.node import TCPNode

from standins.errors import ChangeInFlight, NoQuorum, RaftError
from standins.membership import MemberRecord


class MemberNode(TCPNode):  # type: ignore[misc]  # pysyncobj is untyped
    """A pysyncobj node that also knows its member id and API URL."""

    def __init__(self, record: MemberRecord) -> None:
        super().__init__(record.raft_addr, member_id=record.id, api_url=record.api_url)

    def record(self) -> MemberRecord:
        return MemberRecord(str(self.member_id), str(self.address), str(self.api_url))


def _record_of(node: Any) -> MemberRecord:
    if isinstance(node, MemberNode):
        return node.record()
    return MemberRecord(str(node.id), str(node.id), "")


class KvStore(SyncObjConsumer):  # type: ignore[misc]  # pysyncobj is untyped
    """Replicated key -> JSON value map; `put` returns whether it wrote."""

    def __init__(self) -> None:
        # Attributes set before SyncObjConsumer.__init__ are not serialised into snapshots.
        self._lock = threading.Lock()
        super().__init__()
        self._data: dict[str, Any] = {}

    @replicated  # type: ignore[untyped-decorator]
    def put(self, key: str, value: Any, create_only: bool) -> bool:
        with self._lock:
            if create_only and key in self._data:
                return False
            self._data[key] = value
            return True

    @replicated  # type: ignore[untyped-decorator]
    def delete(self, key: str) -> bool:
        with self._lock:
            return self._data.pop(key, None) is not None

    def get(self, key: str) -> tuple[bool, Any]:
        """(found, value) from this node's applied state."""
        with self._lock:
            if key in self._data:
                return True, self._data[key]
            return False, None

    def items(self, prefix: str) -> list[tuple[str, Any]]:
        with self._lock:
            return sorted((k, v) for k, v in self._data.items() if k.startswith(prefix))


@dataclass(frozen=True)
class Timings:
    """pysyncobj timing knobs; `fast` keeps the integration tier quick on loopback."""

    min_timeout: float
    max_timeout: float
    append_period: float
    connection_timeout: float
    retry_time: float
    leader_fallback: float


PROFILES = {
    "default": Timings(0.4, 1.4, 0.1, 3.5, 1.0, 10.0),
    "fast": Timings(0.3, 0.7, 0.05, 1.0, 0.3, 1.5),
    # A slow, shared host (emulated CPUs, TCG): a guest can stall for a second or two, longer
    # than the default election timeout, and every stall of a leader then starts an election.
    # After a partition heals, the node catching up stalls most, and the elections it starts
    # keep the cluster leaderless (seen: terms rising for minutes, no leader). Raft needs
    # broadcast time << election timeout; here the round trip reaches ~1.5 s.
    "slow": Timings(4.0, 8.0, 0.5, 8.0, 1.0, 30.0),
}

_FAIL_TEXT = {
    FAIL_REASON.QUEUE_FULL: "queue full",
    FAIL_REASON.MISSING_LEADER: "no leader",
    FAIL_REASON.DISCARDED: "discarded by a new leader",
    FAIL_REASON.NOT_LEADER: "leader changed before commit",
    FAIL_REASON.LEADER_CHANGED: "leader changed before commit",
    FAIL_REASON.REQUEST_DENIED: "denied",
    FAIL_REASON.UNKNOWN_OUTCOME: "unknown outcome",
}


class Pending:
    """A command handed to pysyncobj; its callback fires when committed or refused."""

    def __init__(self, what: str, membership: bool) -> None:
        self.what = what
        self.membership = membership
        self._done = threading.Event()
        self._outcome: list[tuple[Any, int]] = []

    def callback(self, result: Any, error: int) -> None:
        self._outcome.append((result, error))
        self._done.set()

    def settled(self, timeout: float = 0.0) -> bool:
        """Whether the command already failed or committed (waits up to `timeout`)."""
        return self._done.wait(timeout)

    def wait(self, timeout: float) -> Any:
        """The command's result once committed.

        Raises:
            ChangeInFlight: a membership change was refused (another one is pending) or did
                not commit within `timeout`.
            NoQuorum: a write did not commit in time, or the leader changed meanwhile.
            RaftError: the queue is full or the command was refused otherwise.
        """
        if not self._done.wait(timeout):
            err_cls = ChangeInFlight if self.membership else NoQuorum
            raise err_cls(f"{self.what}: not committed within {timeout:.1f}s; retry later")
        result, error = self._outcome[0]
        if error == FAIL_REASON.SUCCESS:
            return result
        text = _FAIL_TEXT.get(error, f"error {error}")
        if self.membership and error == FAIL_REASON.REQUEST_DENIED:
            raise ChangeInFlight(f"{self.what}: Raft refused ({text}); another change is "
                                 "pending")
        if error in (FAIL_REASON.QUEUE_FULL, FAIL_REASON.REQUEST_DENIED):
            raise RaftError(f"{self.what}: Raft refused ({text})")
        raise NoQuorum(f"{self.what}: {text}; retry against the new leader")


class RaftNode:
    """One running pysyncobj node: membership changes, KV writes, status."""

    def __init__(self, me: MemberRecord, bind: str, peers: list[MemberRecord],
                 data_dir: Path, timings: Timings, store: KvStore,
                 resumed: bool = False) -> None:
        """`resumed`: started from `peers.json`, i.e. a restart over an existing journal;
        the node then reports itself recovering until `recovered()`."""
        data_dir.mkdir(parents=True, exist_ok=True)
        conf = SyncObjConf(
            dynamicMembershipChange=True,
            journalFile=str(data_dir / "raft.journal"),
            fullDumpFile=str(data_dir / "raft.dump"),
            bindAddress=bind or None,
            useFork=False,  # no fork() inside a threaded HTTP server
            raftMinTimeout=timings.min_timeout,
            raftMaxTimeout=timings.max_timeout,
            appendEntriesPeriod=timings.append_period,
            connectionTimeout=timings.connection_timeout,
            connectionRetryTime=timings.retry_time,
            leaderFallbackTimeout=timings.leader_fallback,
        )
        self._me = me
        self.store = store
        others = [MemberNode(p) for p in peers if p.raft_addr != me.raft_addr]
        self._recovered = threading.Event()
        if not resumed:
            self._recovered.set()  # a fresh node has no journal whose changes could be due
        self._sync = SyncObj(MemberNode(me), others, conf=conf, consumers=[store])
        if resumed:
            self._sync.addOnTickCallback(self._check_recovered)

    # -- recovery after a restart -----------------------------------------------------------
    def recovered(self) -> bool:
        """False while a restarted node may still show a stale membership.

        A restart starts pysyncobj from peers.json (the list Raft first started with) and
        re-applies the journal's membership changes only up to the commit index it saved,
        which lags (pysyncobj saves it once a second, and a follower learns it a heartbeat
        after the leader); later changes are applied only when a leader's commit index
        reaches them. Until then `members()` can lack a member added, or list one removed,
        before the restart.
        """
        return self._recovered.is_set()

    def _check_recovered(self) -> None:
        # Runs in pysyncobj's tick thread, the only thread that touches its log. Recovered
        # once this node has applied everything a leader says is committed AND that covers
        # an entry of the current term: a leader commits an entry of its own term only
        # after every earlier entry (its no-op at election), so all changes the journal
        # held at start are then applied. A commit index heard from a leader elected by
        # the restart may still be the stale saved one, hence the term check; the saved
        # index alone could end on an entry of the current term, hence the leader check.
        # pysyncobj has no public accessor for either value, so the private names are read
        # (an AttributeError after an upgrade would keep restarted nodes recovering, which
        # the restart tests would show).
        if self._recovered.is_set():
            return
        sync = self._sync
        leader_commit = sync._SyncObj__leaderCommitIndex
        applied = sync.raftLastApplied
        if leader_commit is None or applied < leader_commit:
            return
        entries = sync._SyncObj__getEntries(applied, 1)
        if entries and entries[0][2] == sync.raftCurrentTerm:
            self._recovered.set()

    # -- status ---------------------------------------------------------------------------
    def members(self) -> list[MemberRecord]:
        nodes = [self._sync.selfNode, *self._sync.otherNodes]
        return sorted(_record_of(n) for n in nodes)

    def me(self) -> MemberRecord:
        return _record_of(self._sync.selfNode)

    def is_leader(self) -> bool:
        return bool(self._sync._isLeader())

    def leader(self) -> MemberRecord | None:
        node = self._sync._getLeader()
        if node is None:
            return None
        record = _record_of(node)
        if not record.api_url:
            return next((m for m in self.members() if m.raft_addr == record.raft_addr), None)
        return record

    def term(self) -> int:
        return int(self._sync.raftCurrentTerm)

    def has_quorum(self) -> bool:
        return bool(self._sync.hasQuorum)

    # -- writes ---------------------------------------------------------------------------
    def live_voters(self) -> int:
        """Members this node can reach right now, itself included (meaningful on a leader)."""
        return 1 + sum(1 for n in self._sync.otherNodes if self._sync.isNodeConnected(n))

    def is_connected(self, record: MemberRecord) -> bool:
        return bool(self._sync.isNodeConnected(MemberNode(record)))

    def submit_add(self, record: MemberRecord) -> Pending:
        """Hand a member add to Raft; `Pending.wait` returns once it is committed."""
        pending = Pending(f"add member {record.id}", membership=True)
        self._sync.addNodeToCluster(MemberNode(record), callback=pending.callback)
        return pending

    def submit_remove(self, record: MemberRecord) -> Pending:
        """Hand a member removal to Raft; `Pending.wait` returns once it is committed."""
        pending = Pending(f"remove member {record.id}", membership=True)
        self._sync.removeNodeFromCluster(MemberNode(record), callback=pending.callback)
        return pending

    def kv_put(self, key: str, value: Any, create_only: bool, timeout: float) -> bool:
        """Replicate a write (followers forward it to the leader); True if it wrote.

        Raises:
            NoQuorum: no commit within `timeout`, or the leader changed meanwhile.
        """
        pending = Pending(f"put {key}", membership=False)
        self.store.put(key, value, create_only, callback=pending.callback)
        return bool(pending.wait(timeout))

    def kv_delete(self, key: str, timeout: float) -> bool:
        """Replicate a delete; True if the key existed."""
        pending = Pending(f"delete {key}", membership=False)
        self.store.delete(key, callback=pending.callback)
        return bool(pending.wait(timeout))

    def destroy(self) -> None:
        self._sync.destroy()


def make_store() -> KvStore:
    return KvStore()
