"""A chainfire/flaredb node's life: bootstrap, join mode, restart from its data dir.

Bootstrap nodes start Raft at once with `--initial-cluster`. Join-mode nodes start with no
Raft at all (pysyncobj would elect a one-node cluster of its own) and serve `/health` as
"joining" until the leader, having committed their addition, sends them the member list
(`POST /admin/raft/start`). Either way the member list Raft started with is written to
`<data-dir>/peers.json`; on restart it wins, and pysyncobj's journal replays every change
since, so a rebooted node comes back with its data and membership. The replay of changes
past the commit index the journal saved waits for a leader, so until it is done the node
says so (`/health` 503 "recovering", `change_in_flight` true) instead of serving the list
it started from as settled.
"""

from __future__ import annotations

import json
import os
import ssl
import threading
import time
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from standins import httpclient
from standins.config import DaemonConfig
from standins.contract import Member, RaftStart
from standins.errors import ClientError, ConfigError, StandinError
from standins.log import JsonLog
from standins.membership import MemberRecord
from standins.raft import PROFILES, KvStore, RaftNode

_MEMBERS = TypeAdapter(list[Member])
NOTIFY_BUDGET_S = 60.0
NOTIFY_INTERVAL_S = 0.5
RAFT_CREATE_BUDGET_S = 10.0


class ClusterNode:
    """Holds the (possibly not yet started) Raft node and the per-node admin state."""

    def __init__(self, cfg: DaemonConfig, log: JsonLog,
                 client_tls: ssl.SSLContext | None = None) -> None:
        self.cfg = cfg
        self.log = log
        self.client_tls = client_tls
        self.started_at = time.monotonic()
        self.change_lock = threading.Lock()  # one membership change at a time (leader side)
        self._start_lock = threading.Lock()
        self._raft: RaftNode | None = None
        self._fail_lock = threading.Lock()
        self._fails_left = cfg.admin_fail_count if cfg.admin_fail_status else 0
        self._stopping = threading.Event()

    @property
    def peers_file(self) -> Path:
        return self.cfg.data_dir / "peers.json"

    @property
    def raft(self) -> RaftNode | None:
        return self._raft

    def boot(self) -> None:
        """Start Raft from peers.json, else from --initial-cluster, else wait to be added.

        Raises:
            ConfigError: peers.json is corrupt or this node is not among the bootstrap peers.
        """
        saved = self._load_peers()
        if saved is not None:
            self.log.info("raft resuming", peers=[m.id for m in saved])
            self._start(saved, resumed=True)
        elif self.cfg.initial_cluster:
            self._start(self._bootstrap_members())
        else:
            self.log.info("join mode: waiting to be added", raft_addr=self.cfg.raft_addr)

    def _bootstrap_members(self) -> list[MemberRecord]:
        out = []
        found = False
        for peer in self.cfg.initial_cluster:
            if peer.id == self.cfg.node_id or peer.raft_addr == self.cfg.raft_addr:
                out.append(MemberRecord(self.cfg.node_id, peer.raft_addr,
                                        self.cfg.advertise_api_url))
                found = True
            else:
                out.append(MemberRecord(peer.id, peer.raft_addr,
                                        self.cfg.api_url_for_host(peer.host)))
        if not found:
            raise ConfigError(f"--initial-cluster: node {self.cfg.node_id} "
                              f"({self.cfg.raft_addr}) is not among the peers; add it")
        return out

    def _find_me(self, members: list[MemberRecord]) -> MemberRecord | None:
        by_addr = [m for m in members if m.raft_addr == self.cfg.raft_addr]
        by_id = [m for m in members if m.id == self.cfg.node_id]
        matches = by_addr or by_id
        return matches[0] if matches else None

    def _start(self, members: list[MemberRecord], resumed: bool = False) -> None:
        me = self._find_me(members)
        if me is None:
            raise ConfigError(f"peers: node {self.cfg.node_id} ({self.cfg.raft_addr}) is "
                              "not in the member list; check --node-id/--raft-addr")
        with self._start_lock:
            if self._raft is not None:
                return
            self._save_peers(members)
            self._raft = self._create_in_owner_thread(me, members, resumed)
        self.log.info("raft started", member_id=me.id, raft_addr=me.raft_addr,
                      peers=[m.id for m in members if m != me])

    def _create_in_owner_thread(self, me: MemberRecord, members: list[MemberRecord],
                                resumed: bool) -> RaftNode:
        # pysyncobj's tick thread exits when the thread that created the SyncObj ends, so
        # it must not be created in a short-lived HTTP request thread: a daemon thread that
        # lives as long as this node owns it.
        created = threading.Event()
        made: list[RaftNode | BaseException] = []

        def owner() -> None:
            try:
                made.append(RaftNode(me, self.cfg.raft_bind, members, self.cfg.data_dir,
                                     PROFILES[self.cfg.raft_profile], KvStore(),
                                     resumed=resumed))
            except BaseException as err:  # handed to the starting thread below
                made.append(err)
            finally:
                created.set()
            while not self._stopping.wait(timeout=1.0):
                pass

        threading.Thread(target=owner, name="raft-owner", daemon=True).start()
        if not created.wait(timeout=RAFT_CREATE_BUDGET_S) or not made:
            raise StandinError(f"raft: node not created within {RAFT_CREATE_BUDGET_S}s; "
                               "check the data dir and the Raft port")
        result = made[0]
        if isinstance(result, BaseException):
            raise StandinError(f"raft: cannot start: {result}") from result
        return result

    def start_from_leader(self, body: RaftStart) -> bool:
        """Start Raft with the members the leader sent; False if it already runs.

        Raises:
            ConfigError: this node is not in the list the leader sent.
        """
        if self._raft is not None:
            return False
        self._start([MemberRecord.from_body(m) for m in body.members])
        return True

    def take_admin_failure(self) -> bool:
        """True for the first --admin-fail-count admin calls (scenario knob)."""
        with self._fail_lock:
            if self._fails_left <= 0:
                return False
            self._fails_left -= 1
            return True

    def notify_added(self, added: MemberRecord, members: list[MemberRecord]) -> None:
        """Tell a freshly added node whom to follow: one try now, then retries in the
        background until it answers or NOTIFY_BUDGET_S runs out."""
        body = RaftStart(members=[m.body() for m in members]).model_dump(mode="json")
        if self._notify_once(added, body):
            return
        thread = threading.Thread(target=self._notify_until, args=(added, body),
                                  name=f"notify-{added.id}", daemon=True)
        thread.start()

    def _notify_once(self, added: MemberRecord, body: object) -> bool:
        try:
            result = httpclient.request("POST", f"{added.api_url}/admin/raft/start", body,
                                        timeout=2.0, tls=self.client_tls)
        except ClientError as err:
            self.log.info("added node not reachable yet", member_id=added.id, error=str(err))
            return False
        if result.status in (200, 201):
            return True
        self.log.warning("added node refused raft start", member_id=added.id,
                         status=result.status)
        return result.status < 500 and result.status != 404

    def _notify_until(self, added: MemberRecord, body: object) -> None:
        deadline = time.monotonic() + NOTIFY_BUDGET_S
        attempts = 1
        while time.monotonic() < deadline and not self._stopping.is_set():
            if self._stopping.wait(NOTIFY_INTERVAL_S):
                return
            attempts += 1
            raft = self._raft
            if raft is not None and added not in raft.members():
                return  # removed meanwhile: nothing to start any more
            if self._notify_once(added, body):
                return
        self.log.error("gave up starting added node", member_id=added.id, attempts=attempts,
                       budget_s=NOTIFY_BUDGET_S,
                       hint="start it with --initial-cluster listing the current members")

    def health_ready(self) -> bool:
        return time.monotonic() - self.started_at >= self.cfg.health_delay

    def stop(self) -> None:
        self._stopping.set()
        if self._raft is not None:
            self._raft.destroy()

    def _save_peers(self, members: list[MemberRecord]) -> None:
        self.cfg.data_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.peers_file.with_suffix(".tmp")
        tmp.write_text(json.dumps([m.body().model_dump() for m in members], indent=1))
        os.replace(tmp, self.peers_file)  # atomic: a crash leaves the old or the new file

    def _load_peers(self) -> list[MemberRecord] | None:
        try:
            text = self.peers_file.read_text()
        except FileNotFoundError:
            return None
        except OSError as err:
            raise StandinError(f"peers: cannot read {self.peers_file}: {err}") from err
        try:
            return [MemberRecord.from_body(m) for m in _MEMBERS.validate_json(text)]
        except ValidationError as err:
            raise ConfigError(f"peers: {self.peers_file} is corrupt; remove the data dir to "
                              "rejoin from scratch") from err
