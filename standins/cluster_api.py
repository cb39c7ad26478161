"""chainfire/flaredb endpoints: /health, /admin/*, and flaredb's /kv.

Status codes for Raft outcomes are decided here and only here: NotLeader -> 421 (or 307
with --redirect-to-leader), NoQuorum / ChangeInFlight -> 503 with Retry-After.
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import ValidationError

from standins import contract as c
from standins import httpclient
from standins.errors import (
    ChangeInFlight,
    ClientError,
    ConfigError,
    NoQuorum,
    NotLeader,
    RaftError,
)
from standins.lifecycle import ClusterNode
from standins.membership import MemberRecord, conflict, derive_api_url, find, sorted_bodies
from standins.raft import RaftNode
from standins.server import Request, Response, error

RETRY_AFTER_S = "1"


def _bad_body(err: Exception) -> Response:
    if isinstance(err, ValidationError):
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        return error(400, f"malformed body: {where}: {first['msg']}")
    return error(400, f"malformed body: {err}")


def raft_error(err: RaftError) -> Response:
    """The contract's answer for a Raft refusal."""
    if isinstance(err, ChangeInFlight):
        return error(503, "membership change in flight", ("Retry-After", RETRY_AFTER_S))
    if isinstance(err, NoQuorum):
        return error(503, "no quorum", ("Retry-After", RETRY_AFTER_S))
    return error(503, str(err), ("Retry-After", RETRY_AFTER_S))


class ClusterApp:
    """Routes requests for one chainfire or flaredb node."""

    def __init__(self, node: ClusterNode) -> None:
        self.node = node
        self.cfg = node.cfg
        self.kv_enabled = node.cfg.service is c.Service.FLAREDB

    def handle(self, request: Request) -> Response:
        seg = request.segments()
        method = request.method
        if seg == ["health"] and method == "GET":
            return self.health()
        if seg == ["admin", "members"] and method == "GET":
            return Response(200, c.dump(self._members_body()))
        if seg == ["admin", "member", "add"] and method == "POST":
            return self._admin(request, lambda raft: self.add(raft, request))
        if len(seg) == 3 and seg[:2] == ["admin", "member"] and method == "DELETE":
            return self._admin(request, lambda raft: self.remove(raft, seg[2]))
        if seg == ["admin", "raft", "start"] and method == "POST":
            return self.raft_start(request)
        if self.kv_enabled and seg[:1] == ["kv"]:
            return self.kv(request, "/".join(seg[1:]))
        return error(404, f"no such endpoint: {method} {request.path}")

    # -- health and views -----------------------------------------------------------------
    def _leader_ref(self, raft: RaftNode) -> c.LeaderRef | None:
        leader = raft.leader()
        return None if leader is None else c.LeaderRef(id=leader.id, api_url=leader.api_url)

    def _members_body(self) -> c.Members:
        raft = self.node.raft
        cluster = self.cfg.cluster_name or None
        if raft is None:
            return c.Members(service=self.cfg.service, members=[], leader=None, term=0, has_quorum=False,
                             change_in_flight=False, cluster=cluster)
        return c.Members(service=self.cfg.service, members=sorted_bodies(raft.members()),
                         leader=self._leader_ref(raft),
                         term=raft.term(), has_quorum=raft.has_quorum(),
                         # A restarted node still re-applying its journal's membership
                         # changes shows a list that may change under the reader: unsettled.
                         change_in_flight=self.node.change_lock.locked()
                         or not raft.recovered(), cluster=cluster)

    def health(self) -> Response:
        if not self.node.health_ready():
            return Response(503, c.dump(c.Starting()), (("Retry-After", RETRY_AFTER_S),))
        raft = self.node.raft
        if raft is not None and not raft.recovered():
            # Not 200 with the member list it started from: a client (fba) would take it
            # as settled, though changes in the journal are not re-applied yet.
            return Response(503, c.dump(c.Starting(status="recovering")),
                            (("Retry-After", RETRY_AFTER_S),))
        view = self._members_body()
        if raft is None:
            role = c.Role.JOINING
        else:
            role = c.Role.LEADER if raft.is_leader() else c.Role.FOLLOWER
        body = c.Health(service=self.cfg.service, node_id=self.cfg.node_id, role=role,
                        leader=view.leader, term=view.term, members=view.members,
                        has_quorum=view.has_quorum, change_in_flight=view.change_in_flight,
                        cluster=view.cluster)
        return Response(200, c.dump(body))

    # -- admin ------------------------------------------------------------------------------
    def _admin(self, request: Request, action: Any) -> Response:
        if self.cfg.admin_fail_status and self.node.take_admin_failure():
            headers = (("Retry-After", RETRY_AFTER_S),) if self.cfg.admin_fail_status == 503 \
                else ()
            return error(self.cfg.admin_fail_status, "injected failure (--admin-fail-status)",
                         *headers)
        raft = self.node.raft
        if raft is None:
            return error(503, "no quorum", ("Retry-After", RETRY_AFTER_S),
                         detail="this node has not been added to a cluster yet")
        if not raft.is_leader():
            return self._not_leader(raft, request)
        if not raft.recovered():
            # Its list may still lack a member added (or list one removed) before the
            # restart: a 404 "not a member" or 409 "already a member" judged from it would
            # be false, and an add could duplicate a change the journal already holds.
            return error(503, "membership change in flight", ("Retry-After", RETRY_AFTER_S),
                         detail="restarted: re-applying the journal's membership changes")
        try:
            response: Response = action(raft)
        except NotLeader:
            return self._not_leader(raft, request)
        except RaftError as err:
            return raft_error(err)
        return response

    def _not_leader(self, raft: RaftNode, request: Request) -> Response:
        leader = raft.leader()
        if leader is None or not leader.api_url or leader.raft_addr == raft.me().raft_addr:
            return error(503, "no quorum", ("Retry-After", RETRY_AFTER_S))
        if self.cfg.redirect_to_leader:
            return Response(307, {"error": "not the leader", "leader_url": leader.api_url},
                            (("Location", leader.api_url + request.path),
                             ("X-Leader-URL", leader.api_url)))
        return Response(421, c.dump(c.NotLeaderBody(leader_url=leader.api_url)),
                        (("X-Leader-URL", leader.api_url),))

    def add(self, raft: RaftNode, request: Request) -> Response:
        try:
            body = c.MemberAddRequest.model_validate(request.json())
        except (ValueError, ValidationError) as err:
            return _bad_body(err)
        api_url = (body.api_url or derive_api_url(body.raft_addr, self.cfg.scheme,
                                                  self.cfg.api_port)).rstrip("/")
        record = MemberRecord(body.id, body.raft_addr, api_url)
        existing = conflict(raft.members(), body.id, body.raft_addr)
        if existing is not None:
            if existing == record:
                # Same node asking again: make sure its Raft runs (heals a node whose first
                # start notice was lost), then answer 409 as the contract says.
                self.node.notify_added(existing, raft.members())
            return self._already(existing)
        if not raft.has_quorum():
            return error(503, "no quorum", ("Retry-After", RETRY_AFTER_S))
        if not self.node.change_lock.acquire(blocking=False):
            return error(503, "membership change in flight", ("Retry-After", RETRY_AFTER_S))
        try:
            self._slow()
            existing = conflict(raft.members(), body.id, body.raft_addr)  # re-check, locked
            if existing is not None:
                return self._already(existing)
            refused = self._quorum_after_add(raft, record)
            if refused is not None:
                return refused
            members = self._commit_add(raft, record)
            self.node.log.info("member added", member_id=record.id, raft_addr=record.raft_addr)
        finally:
            self.node.change_lock.release()
        return Response(201, c.dump(c.MemberAdded(added=record.body(),
                                                  members=sorted_bodies(members))))

    def _quorum_after_add(self, raft: RaftNode, record: MemberRecord) -> Response | None:
        """Refuse an add that would leave the cluster without quorum (etcd's strict reconfig
        check): the live members, plus the new node if it answers, must be a majority of
        the new configuration, or the change could never commit and would wedge Raft."""
        size = len(raft.members()) + 1
        need = size // 2 + 1
        live = raft.live_voters()
        if live >= need:
            return None
        if live + 1 >= need and self._answers(record):
            return None
        return error(503, "no quorum", ("Retry-After", RETRY_AFTER_S),
                     detail=f"{live} members reachable; {size} members need {need}")

    def _answers(self, record: MemberRecord) -> bool:
        try:
            return httpclient.request("GET", record.api_url + "/health", timeout=2.0,
                                      tls=self.node.client_tls).status == 200
        except ClientError:
            return False

    def _commit_add(self, raft: RaftNode, record: MemberRecord) -> list[MemberRecord]:
        """Submit the add, start the new node's Raft as soon as the leader has appended the
        change (its vote may be needed to commit its own addition), then wait for commit."""
        pending = raft.submit_add(record)
        notified = False
        for _ in range(200):  # <= 2 s until appended or refused
            if pending.settled(0.01):
                break
            if record in raft.members():
                self.node.notify_added(record, raft.members())
                notified = True
                break
        pending.wait(self.cfg.commit_timeout)
        members = raft.members()
        if not notified:
            self.node.notify_added(record, members)
        return members

    def _slow(self) -> None:
        # --admin-delay stretches the change while the change lock is held, so a slow
        # endpoint also shows "membership change in flight" to concurrent callers.
        if self.cfg.admin_delay > 0:
            time.sleep(self.cfg.admin_delay)

    @staticmethod
    def _already(existing: MemberRecord) -> Response:
        return Response(409, c.dump(c.ErrorWithMember(error="already a member",
                                                      member=existing.body())))

    def remove(self, raft: RaftNode, member_id: str) -> Response:
        target = find(raft.members(), member_id)
        if target is None:
            return error(404, f"not a member: {member_id}")
        if target.raft_addr == raft.me().raft_addr:
            return error(409, "cannot remove the current leader",
                         detail="remove it through another node after a new leader is elected")
        live_after = raft.live_voters() - (1 if raft.is_connected(target) else 0)
        if not raft.has_quorum() or live_after < (len(raft.members()) - 1) // 2 + 1:
            return error(503, "no quorum", ("Retry-After", RETRY_AFTER_S))
        if not self.node.change_lock.acquire(blocking=False):
            return error(503, "membership change in flight", ("Retry-After", RETRY_AFTER_S))
        try:
            self._slow()
            raft.submit_remove(target).wait(self.cfg.commit_timeout)
            members = raft.members()
            self.node.log.info("member removed", member_id=target.id)
        finally:
            self.node.change_lock.release()
        return Response(200, c.dump(c.MemberRemoved(removed=target.body(),
                                                    members=sorted_bodies(members))))

    def raft_start(self, request: Request) -> Response:
        try:
            body = c.RaftStart.model_validate(request.json())
        except (ValueError, ValidationError) as err:
            return _bad_body(err)
        try:
            started = self.node.start_from_leader(body)
        except ConfigError as err:
            return error(400, str(err))
        return Response(201 if started else 200, {"started": started})

    # -- flaredb KV -------------------------------------------------------------------------
    def kv(self, request: Request, key: str) -> Response:
        raft = self.node.raft
        if request.method == "GET" and not key:
            prefix = request.query.get("prefix", "")
            items = [] if raft is None else raft.store.items(prefix)
            return Response(200, c.dump(c.KvList(items=[c.KvItem(key=k, value=v)
                                                         for k, v in items])))
        if not key:
            return error(404, "no such endpoint: give a key, /kv/{key}")
        if request.method == "GET":
            found, value = (False, None) if raft is None else raft.store.get(key)
            if not found:
                return error(404, f"no such key: {key}")
            return Response(200, c.dump(c.KvItem(key=key, value=value)))
        if raft is None:
            return error(503, "no quorum", ("Retry-After", RETRY_AFTER_S))
        try:
            if request.method == "PUT":
                return self._kv_put(raft, request, key)
            if request.method == "DELETE":
                if not raft.kv_delete(key, self.cfg.commit_timeout):
                    return error(404, f"no such key: {key}")
                return Response(200, {"deleted": key})
        except RaftError as err:
            return raft_error(err)
        return error(405, f"method not allowed on /kv: {request.method}")

    def _kv_put(self, raft: RaftNode, request: Request, key: str) -> Response:
        try:
            body = c.KvPut.model_validate(request.json())
        except (ValueError, ValidationError) as err:
            return _bad_body(err)
        create_only = request.query.get("create_only", "").lower() in ("true", "1")
        wrote = raft.kv_put(key, body.value, create_only, self.cfg.commit_timeout)
        if not wrote:
            return error(409, "exists")
        status = 201 if create_only else 200
        return Response(status, c.dump(c.KvItem(key=key, value=body.value)))
