"""The Raft state machine on pysyncobj: membership (id -> raft_addr, api_url) and a KV map.

Membership has a single source of truth: pysyncobj's own node set. Every node object is a
`MemberNode` carrying the member id and API URL, and pysyncobj pickles the whole object into
its membership log entries and snapshots, so the id map can never drift from the Raft
configuration. The KV map is a `SyncObjConsumer` whose writes are decided when a log entry
is applied, which makes `create_only` atomic cluster-wide.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
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


class RaftNode:
    """One running pysyncobj node: membership changes, KV writes, status."""

    def __init__(self, me: MemberRecord, bind: str, peers: list[MemberRecord],
                 data_dir: Path, timings: Timings, store: KvStore) -> None:
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
        self._sync = SyncObj(MemberNode(me), others, conf=conf, consumers=[store])

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
    def add_member(self, record: MemberRecord, timeout: float) -> None:
        """Add a member and return once the change is committed.

        Raises:
            ChangeInFlight: pysyncobj refused (a change or the leader's no-op is pending),
                or the commit did not happen within `timeout`.
            NoQuorum: the leader changed or vanished before the commit.
        """
        self._wait(lambda cb: self._sync.addNodeToCluster(MemberNode(record), callback=cb),
                   f"add member {record.id}", timeout, membership=True)

    def remove_member(self, record: MemberRecord, timeout: float) -> None:
        """Remove a member and return once the change is committed (raises as add)."""
        self._wait(lambda cb: self._sync.removeNodeFromCluster(MemberNode(record), callback=cb),
                   f"remove member {record.id}", timeout, membership=True)

    def kv_put(self, key: str, value: Any, create_only: bool, timeout: float) -> bool:
        """Replicate a write (followers forward it to the leader); True if it wrote.

        Raises:
            NoQuorum: no commit within `timeout`, or the leader changed meanwhile.
        """
        return bool(self._wait(
            lambda cb: self.store.put(key, value, create_only, callback=cb),
            f"put {key}", timeout, membership=False))

    def kv_delete(self, key: str, timeout: float) -> bool:
        """Replicate a delete; True if the key existed."""
        return bool(self._wait(lambda cb: self.store.delete(key, callback=cb),
                               f"delete {key}", timeout, membership=False))

    def _wait(self, submit: Callable[[Callable[[Any, int], None]], None], what: str,
              timeout: float, membership: bool) -> Any:
        done = threading.Event()
        outcome: list[tuple[Any, int]] = []

        def callback(result: Any, error: int) -> None:
            outcome.append((result, error))
            done.set()

        submit(callback)
        if not done.wait(timeout):
            err_cls = ChangeInFlight if membership else NoQuorum
            raise err_cls(f"{what}: not committed within {timeout:.1f}s; retry later")
        result, error = outcome[0]
        if error == FAIL_REASON.SUCCESS:
            return result
        text = _FAIL_TEXT.get(error, f"error {error}")
        if membership and error == FAIL_REASON.REQUEST_DENIED:
            raise ChangeInFlight(f"{what}: Raft refused ({text}); another change is pending")
        if error in (FAIL_REASON.QUEUE_FULL, FAIL_REASON.REQUEST_DENIED):
            raise RaftError(f"{what}: Raft refused ({text})")
        raise NoQuorum(f"{what}: {text}; retry against the new leader")

    def destroy(self) -> None:
        self._sync.destroy()


def make_store() -> KvStore:
    return KvStore()
