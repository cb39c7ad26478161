"""Contract checks against any base URL: are these chainfire/flaredb/iam what we expect?

    python -m standins.conformance --service chainfire --url https://node01:2379 --ca ca.crt
    python -m standins.conformance --service iam --url http://127.0.0.1:8080 \
        --token-file /etc/nixos/secrets/bootstrap-token --allow-mutations

Read-only checks by default; `--allow-mutations` adds a throwaway member / key / user
(and removes the member again). One line per check (`PASS name: detail` or
`FAIL name: detail`); exit status 0 when all pass, 1 otherwise, 2 for bad usage.
"""

from __future__ import annotations

import argparse
import secrets
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from pydantic import BaseModel, ValidationError

from standins import contract as c
from standins import httpclient
from standins.errors import ClientError, StandinError


class CheckFailed(StandinError):
    """A contract check saw something the contract does not allow."""


@dataclass
class Target:
    """Where and how to talk to the service under test, plus state shared by checks."""

    url: str
    tls: Any = None
    token: str | None = None
    timeout: float = 10.0
    scratch: dict[str, Any] = field(default_factory=dict)

    def call(self, method: str, path: str, body: Any = None, *, base: str | None = None,
             auth: str | None = "default") -> httpclient.HttpResult:
        headers = {}
        token = self.token if auth == "default" else auth
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return httpclient.request(method, (base or self.url) + path, body,
                                  timeout=self.timeout, headers=headers, tls=self.tls)


def expect(result: httpclient.HttpResult, *statuses: int) -> Any:
    if result.status not in statuses:
        raise CheckFailed(f"status {result.status}, expected {'/'.join(map(str, statuses))}:"
                          f" {str(result.body)[:200]}")
    return result.body


def shape(model: type[BaseModel], body: Any) -> Any:
    try:
        return model.model_validate(body)
    except ValidationError as err:
        first = err.errors()[0]
        raise CheckFailed(f"body is not a {model.__name__}: {first['loc']}: {first['msg']}"
                          ) from err


@dataclass(frozen=True)
class Check:
    name: str
    run: Callable[[Target], str]
    mutating: bool = False


# -- chainfire / flaredb ----------------------------------------------------------------
def _health(t: Target) -> str:
    body = shape(c.Health, expect(t.call("GET", "/health"), 200))
    t.scratch["health"] = body
    return f"role {body.role}, term {body.term}, {len(body.members)} members"


def _members(t: Target) -> str:
    body = shape(c.Members, expect(t.call("GET", "/admin/members"), 200))
    t.scratch["members"] = body
    health = t.scratch.get("health")
    if health is not None and {m.id for m in health.members} != {m.id for m in body.members}:
        raise CheckFailed("/health and /admin/members list different members")
    if health is not None and health.service != body.service:
        raise CheckFailed(f"/health says {health.service}, /admin/members says {body.service}")
    return f"{body.service}: " + ", ".join(m.id for m in body.members)


def _leader(t: Target) -> str:
    body = t.scratch.get("members") or shape(c.Members, expect(t.call("GET", "/admin/members"),
                                                              200))
    if body.leader is None or not body.has_quorum:
        raise CheckFailed(f"no leader or no quorum (leader={body.leader}, "
                          f"has_quorum={body.has_quorum})")
    lead = shape(c.Health, expect(t.call("GET", "/health", base=body.leader.api_url), 200))
    if lead.role is not c.Role.LEADER:
        raise CheckFailed(f"{body.leader.api_url} says role {lead.role}, not leader")
    t.scratch["leader_url"] = body.leader.api_url
    t.scratch["followers"] = [m.api_url for m in body.members if m.id != body.leader.id]
    return f"{body.leader.id} at {body.leader.api_url}"


def _leader_url(t: Target) -> str:
    if "leader_url" not in t.scratch:
        _leader(t)
    return str(t.scratch["leader_url"])


def _add_malformed(t: Target) -> str:
    body = expect(t.call("POST", "/admin/member/add", {"raft_addr": 5}, base=_leader_url(t)),
                  400)
    shape(c.Error, body)
    return "400 with an error"


def _add(t: Target) -> str:
    ident = f"conformance-{secrets.token_hex(3)}"
    addr = f"127.0.0.254:{20000 + secrets.randbelow(30000)}"
    t.scratch["probe"] = (ident, addr)
    body = shape(c.MemberAdded, expect(t.call(
        "POST", "/admin/member/add", {"id": ident, "raft_addr": addr}, base=_leader_url(t)),
        201))
    if body.added.id != ident or ident not in {m.id for m in body.members}:
        raise CheckFailed(f"201 but {ident} is not in the answer")
    return f"added {ident}"


def _add_again(t: Target) -> str:
    ident, addr = t.scratch["probe"]
    body = shape(c.ErrorWithMember, expect(t.call(
        "POST", "/admin/member/add", {"id": ident, "raft_addr": addr}, base=_leader_url(t)),
        409))
    if body.member.id != ident or body.member.raft_addr != addr:
        raise CheckFailed(f"409 names {body.member}, not {ident}")
    return "409 with the existing member"


def _follower_hint(t: Target) -> str:
    followers = t.scratch.get("followers") or []
    if not followers:
        return "skipped: no follower"
    ident, addr = t.scratch.get("probe", ("conformance-x", "127.0.0.254:1"))
    result = t.call("POST", "/admin/member/add", {"id": ident, "raft_addr": addr},
                    base=followers[0])
    if result.status == 421:
        shape(c.NotLeaderBody, result.body)
        if not result.header("x-leader-url"):
            raise CheckFailed("421 without an X-Leader-URL header")
        return f"421 -> {result.header('x-leader-url')}"
    if result.status == 307:
        if not result.header("location"):
            raise CheckFailed("307 without Location")
        return f"307 -> {result.header('location')}"
    raise CheckFailed(f"follower answered {result.status}, expected 421 or 307")


def _remove(t: Target) -> str:
    ident, _ = t.scratch["probe"]
    body = shape(c.MemberRemoved, expect(t.call("DELETE", f"/admin/member/{ident}",
                                                base=_leader_url(t)), 200))
    if ident in {m.id for m in body.members}:
        raise CheckFailed(f"{ident} still listed after removal")
    expect(t.call("DELETE", f"/admin/member/{ident}", base=_leader_url(t)), 404)
    return "200, then 404"


def _kv_read(t: Target) -> str:
    missing = f"conformance/{secrets.token_hex(4)}"
    expect(t.call("GET", f"/kv/{missing}"), 404)
    shape(c.KvList, expect(t.call("GET", f"/kv?prefix={missing}"), 200))
    return "404 for a missing key, list answers"


def _kv_write(t: Target) -> str:
    key = f"conformance/{secrets.token_hex(4)}"
    expect(t.call("PUT", f"/kv/{key}", {"value": {"n": 1}}), 200)
    got = shape(c.KvItem, expect(t.call("GET", f"/kv/{key}", base=_leader_url(t)), 200))
    if got.value != {"n": 1}:
        raise CheckFailed(f"read back {got.value!r}")
    new = key + "-once"
    expect(t.call("PUT", f"/kv/{new}?create_only=true", {"value": 1}), 201)
    shape(c.Error, expect(t.call("PUT", f"/kv/{new}?create_only=true", {"value": 2}), 409))
    items = shape(c.KvList, expect(t.call("GET", f"/kv?prefix={key}", base=_leader_url(t)),
                                   200))
    if {i.key for i in items.items} != {key, new}:
        raise CheckFailed(f"prefix list shows {[i.key for i in items.items]}")
    return "put/get/create_only/list"


# -- iam ----------------------------------------------------------------------------------
def _iam_health(t: Target) -> str:
    body = shape(c.IamHealth, expect(t.call("GET", "/health", auth=None), 200))
    return f"store {body.store}"


def _iam_rejects(t: Target) -> str:
    for token in (None, "not-a-valid-token-" + secrets.token_hex(4)):
        body = shape(c.Error, expect(t.call("GET", "/users", auth=token), 401))
        if body.error != "invalid token":
            raise CheckFailed(f"401 says {body.error!r}, expected 'invalid token'")
    return "401 invalid token without or with a wrong token"


def _iam_admins(t: Target) -> str:
    if not t.token:
        return "skipped: no --token-file"
    body = shape(c.UserList, expect(t.call("GET", "/users?role=admin"), 200))
    if len(body.users) > 1:
        raise CheckFailed(f"{len(body.users)} admins; the cluster must have at most one")
    return f"{len(body.users)} admin(s)"


def _iam_users(t: Target) -> str:
    if not t.token:
        raise CheckFailed("needs --token-file")
    name = f"conformance-{secrets.token_hex(3)}"
    user = {"name": name, "role": "user", "password": secrets.token_urlsafe(12)}
    shape(c.UserView, expect(t.call("POST", "/users", user), 201))
    # An identical repeat is a replay (a client recovering after a crash): 200, not a new user.
    shape(c.UserView, expect(t.call("POST", "/users", user), 200))
    other = dict(user, password=secrets.token_urlsafe(12))
    body = shape(c.Error, expect(t.call("POST", "/users", other), 409))
    if body.error != "user exists":
        raise CheckFailed(f"409 says {body.error!r}")
    shape(c.UserView, expect(t.call("GET", f"/users/{name}"), 200))
    return f"created {name}, 200 on replay, 409 for another password"


def _iam_tokens(t: Target) -> str:
    if not t.token:
        raise CheckFailed("needs --token-file")
    issued = shape(c.TokenIssued, expect(t.call(
        "POST", "/tokens", {"subject": "node:conformance", "ttl_s": 300}), 201))
    expect(t.call("GET", "/users?role=admin", auth=issued.token), 200)
    return "issued token authenticates"


CHECKS: dict[c.Service, tuple[Check, ...]] = {
    c.Service.CHAINFIRE: (
        Check("health", _health), Check("members", _members), Check("leader", _leader),
        Check("add-malformed", _add_malformed, True), Check("add", _add, True),
        Check("add-duplicate", _add_again, True), Check("follower-hint", _follower_hint, True),
        Check("remove", _remove, True),
    ),
    c.Service.IAM: (
        Check("health", _iam_health), Check("auth-rejects", _iam_rejects),
        Check("admins", _iam_admins), Check("users", _iam_users, True),
        Check("tokens", _iam_tokens, True),
    ),
}
CHECKS[c.Service.FLAREDB] = (*CHECKS[c.Service.CHAINFIRE][:3], Check("kv-read", _kv_read),
                             *CHECKS[c.Service.CHAINFIRE][3:], Check("kv-write", _kv_write, True))


def run_checks(service: c.Service, target: Target, allow_mutations: bool,
               out: TextIO) -> bool:
    """Run the service's checks in order, print one line each; True if all passed."""
    ok = True
    for check in CHECKS[service]:
        if check.mutating and not allow_mutations:
            continue
        try:
            detail = check.run(target)
            out.write(f"PASS {check.name}: {detail}\n")
        except (StandinError, KeyError) as err:
            ok = False
            reason = f"cannot connect: {err}" if isinstance(err, ClientError) else str(err)
            out.write(f"FAIL {check.name}: {reason}\n")
    return ok


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m standins.conformance`; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m standins.conformance",
                                     description="Check a service against the contract.")
    parser.add_argument("--service", required=True, choices=[s.value for s in c.Service])
    parser.add_argument("--url", required=True, help="base URL, e.g. https://node01:2379")
    parser.add_argument("--token-file", type=Path, help="bearer token for iam")
    parser.add_argument("--ca", type=Path, help="CA bundle to verify HTTPS")
    parser.add_argument("--cert", type=Path, help="client certificate (mTLS)")
    parser.add_argument("--key", type=Path, help="client key (mTLS)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    parser.add_argument("--allow-mutations", action="store_true",
                        help="also run checks that add/remove a member, key or user")
    args = parser.parse_args(argv)
    token = args.token_file.read_text().strip() if args.token_file else None
    tls = (httpclient.client_tls_context(args.ca, args.cert, args.key)
           if args.url.startswith("https") else None)
    target = Target(args.url.rstrip("/"), tls, token, args.timeout)
    return 0 if run_checks(c.Service(args.service), target, args.allow_mutations,
                           sys.stdout) else 1


if __name__ == "__main__":
    raise SystemExit(main())
