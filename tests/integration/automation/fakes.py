"""Scriptable fake services on loopback for the `fba` integration tests.

One `FakeServer` is a stdlib `ThreadingHTTPServer` on 127.0.0.x with a port from the OS,
optionally behind TLS (a throwaway CA from `make_pki`, optionally requiring client
certificates). It records every request and answers, in this order of precedence:

1. a scripted answer for (method, path): a fixed answer, or a sequence (500, 500, then fall
   through or repeat the last one), each with an optional delay;
2. the stateful part it was given: a `Cluster` (the member-list HTTP contract of chainfire and
   flaredb: leader or follower) or an `Iam` (users and tokens behind a bootstrap token);
3. `GET /health` -> 200 once healthy (503 + Retry-After before), anything else 404.

Every wait inside a handler is an `Event.wait` on the server's stop event, so closing a server
never waits for a slow answer to finish.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import ipaddress
import json
import os
import secrets
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

LOOPBACK = "127.0.0.1"

# ---------------------------------------------------------------------------------------------
# Test PKI


@dataclass(frozen=True)
class Pki:
    """Paths of one throwaway CA and the certificates it signed (keys are 0600)."""

    directory: Path
    ca_cert: Path
    ca_key: Path
    ca_subject: str  # RFC 4514, e.g. "CN=fba test CA A"
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    data = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.chmod(path, 0o600)


def _load_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise TypeError(f"{path}: not an EC key")
    return key


def make_cert(
    directory: Path,
    name: str,
    *,
    ca_cert: Path,
    ca_key: Path,
    ips: Iterable[str] = (LOOPBACK,),
    server: bool = True,
    client: bool = True,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
) -> tuple[Path, Path]:
    """Issue `<name>.crt` / `<name>.key` from the CA; returns (cert, key)."""
    now = dt.datetime.now(dt.UTC)
    issuer = x509.load_pem_x509_certificate(ca_cert.read_bytes())
    signer = _load_key(ca_key)
    key = ec.generate_private_key(ec.SECP256R1())
    usages = ([ExtendedKeyUsageOID.SERVER_AUTH] if server else []) + (
        [ExtendedKeyUsageOID.CLIENT_AUTH] if client else []
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(issuer.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now - dt.timedelta(minutes=5))
        .not_valid_after(not_after or now + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]), critical=False
        )
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .sign(signer, hashes.SHA256())
    )
    crt, pem = directory / f"{name}.crt", directory / f"{name}.key"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(key, pem)
    return crt, pem


def make_pki(directory: Path, ca_name: str = "fba test CA", *, ips: Iterable[str] = (LOOPBACK, "127.0.0.2")) -> Pki:
    """A CA, a server certificate for the loopback IPs (SAN IP) and a client certificate."""
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ca_name)])
    ca = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_cert, ca_key_path = directory / "ca.crt", directory / "ca.key"
    ca_cert.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    _write_key(ca_key, ca_key_path)
    server_cert, server_key = make_cert(directory, "server", ca_cert=ca_cert, ca_key=ca_key_path, ips=ips)
    client_cert, client_key = make_cert(directory, "client", ca_cert=ca_cert, ca_key=ca_key_path, server=False)
    return Pki(
        directory, ca_cert, ca_key_path, subject.rfc4514_string(), server_cert, server_key, client_cert, client_key
    )


@dataclass(frozen=True)
class ServerTls:
    pki: Pki
    require_client_cert: bool = False

    def context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.pki.server_cert, self.pki.server_key)
        if self.require_client_cert:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(cafile=str(self.pki.ca_cert))
        return context


# ---------------------------------------------------------------------------------------------
# Requests and answers


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any = None  # JSON-able; None -> empty body
    headers: Mapping[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


@dataclass(frozen=True)
class Recorded:
    server: str
    method: str
    path: str
    query: Mapping[str, list[str]]
    body: Any  # parsed JSON, the raw text when not JSON, None when empty
    headers: Mapping[str, str]  # lower-case names
    at: float  # time.monotonic()
    status: int = 0  # what we answered (0: the connection was dropped)


def error(status: int, message: str, *headers: tuple[str, str], **extra: Any) -> Answer:
    return Answer(status, {"error": message, **extra}, dict(headers))


class _Script:
    def __init__(self, answers: list[Answer], repeat_last: bool) -> None:
        self.answers = answers
        self.repeat_last = repeat_last
        self.used = 0

    def next(self) -> Answer | None:
        if self.used < len(self.answers):
            self.used += 1
            return self.answers[self.used - 1]
        return self.answers[-1] if self.repeat_last and self.answers else None


# ---------------------------------------------------------------------------------------------
# Stateful parts


@dataclass
class Cluster:
    """The member list of one service, shared by the servers that play its leader and followers.

    Mutable on purpose: it is the fake cluster's state, guarded by `lock`.
    """

    leader_id: str = "leader0"
    leader_raft_addr: str = "127.0.0.9:2380"
    has_quorum: bool = True
    change_in_flight: bool = False
    busy_answers: int = 0  # member-add answers 503 + Retry-After this many times
    busy_until: float = 0.0  # ... or until this monotonic time
    busy_for_s: float = 0.0  # ... or for this long from the first member-add request
    retry_after: str = "0"
    term: int = 1
    add_hold_s: float = 0.0  # an accepted add holds the change lock this long
    lock: threading.Lock = field(default_factory=threading.Lock)
    members: dict[str, dict[str, str]] = field(default_factory=dict)
    leader_url: str = ""
    added: list[str] = field(default_factory=list)  # ids added through POST, in order
    _adding: bool = False

    def set_leader(self, url: str) -> None:
        with self.lock:
            self.leader_url = url
            self.members[self.leader_id] = {"id": self.leader_id, "raft_addr": self.leader_raft_addr, "api_url": url}

    def add_member(self, member_id: str, raft_addr: str, api_url: str = "") -> None:
        with self.lock:
            self.members[member_id] = {"id": member_id, "raft_addr": raft_addr, "api_url": api_url}

    def member_ids(self) -> list[str]:
        with self.lock:
            return list(self.members)

    def view(self) -> dict[str, Any]:
        with self.lock:
            return {
                "members": [dict(m) for m in self.members.values()],
                "leader": {"id": self.leader_id, "api_url": self.leader_url} if self.leader_url else None,
                "term": self.term,
                "has_quorum": self.has_quorum,
                "change_in_flight": self.change_in_flight or self._adding,
            }

    def _conflict(self, member_id: str, raft_addr: str) -> dict[str, str] | None:
        for member in self.members.values():
            if member["id"] == member_id or member["raft_addr"] == raft_addr:
                return dict(member)
        return None

    def add(self, body: Any, stop: threading.Event) -> Answer:
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("id"), str)
            or not isinstance(body.get("raft_addr"), str)
        ):
            return error(400, "malformed body: id and raft_addr are required")
        member_id, raft_addr = body["id"], body["raft_addr"]
        api_url = body.get("api_url") if isinstance(body.get("api_url"), str) else ""
        with self.lock:
            if self.busy_for_s and not self.busy_until:
                self.busy_until = time.monotonic() + self.busy_for_s
            existing = self._conflict(member_id, raft_addr)
            if existing is not None:
                return Answer(409, {"error": "already a member", "member": existing})
            busy = self.busy_answers > 0 or time.monotonic() < self.busy_until or self._adding or self.change_in_flight
            if busy:
                self.busy_answers = max(0, self.busy_answers - 1)
                return error(503, "membership change in flight", ("Retry-After", self.retry_after))
            if not self.has_quorum:
                return error(503, "no quorum", ("Retry-After", self.retry_after))
            self._adding = True
        try:
            if self.add_hold_s:
                stop.wait(self.add_hold_s)
            with self.lock:
                member = {"id": member_id, "raft_addr": raft_addr, "api_url": api_url}
                self.members[member_id] = member
                self.added.append(member_id)
                members = [dict(m) for m in self.members.values()]
        finally:
            with self.lock:
                self._adding = False
        return Answer(201, {"added": member, "members": members})

    def remove(self, member_id: str) -> Answer:
        with self.lock:
            member = self.members.pop(member_id, None)
            if member is None:
                return error(404, f"not a member: {member_id}")
            return Answer(200, {"removed": member, "members": [dict(m) for m in self.members.values()]})


@dataclass
class Iam:
    """Users and tokens behind a bootstrap token, as the IAM stand-in's contract has them.

    Like the stand-in (standins/openapi.yaml): replaying a create with the same name, role and
    password answers 200; a user that exists otherwise answers 409 "user exists", and a second
    admin 409 "admin exists".
    """

    bootstrap_token: str = field(default_factory=lambda: "boot-" + secrets.token_urlsafe(24))
    expired: bool = False
    # The bootstrap token alone is refused (kubeadm's expire after 24 h); issued tokens still
    # work, as the contract has them (bearer: the bootstrap token or a token from POST /tokens).
    bootstrap_expired: bool = False
    # The IAM's clock minus ours: its `Date` header and the `expires_at` it computes (a node whose
    # clock is a day ahead before NTP stepped it, or an IAM host behind; break 12, K3).
    clock_offset_s: float = 0.0
    token_expires_at: object = None  # every token's expires_at (any JSON value), instead of now + ttl_s
    ignores_role_filter: bool = False  # answers every user to GET /users?role=admin (break 10, G13)
    # An IAM without the contract's replay rule: the same create again is 409 "user exists"
    # (break 11, H4: fba then has no way to tell its own admin from another node's).
    replays: bool = True
    # Answers given instead of 201 to the next creates, each after the user is stored: a 201
    # that comes after the client's timeout (delay_s), a proxy's 502 after the commit.
    lost_creates: list[Answer] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    users: dict[str, dict[str, str]] = field(default_factory=dict)  # name -> {name, role, created_at, password}
    issued: list[str] = field(default_factory=list)

    def add_user(self, name: str, role: str = "admin", password: str = "someone-elses-password") -> None:
        with self.lock:
            self.users[name] = {"name": name, "role": role, "created_at": _now(), "password": password}

    def admins(self) -> list[str]:
        with self.lock:
            return [u["name"] for u in self.users.values() if u["role"] == "admin"]

    def handle(
        self, method: str, path: str, query: Mapping[str, list[str]], body: Any, headers: Mapping[str, str]
    ) -> Answer:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or token.strip() not in (self.bootstrap_token, *self.issued):
            return error(401, "invalid token")
        if self.expired:
            return error(401, "token expired")
        if self.bootstrap_expired and token.strip() == self.bootstrap_token:
            return error(401, "bootstrap token expired")
        if path == "/users" and method == "GET":
            role = "" if self.ignores_role_filter else (query.get("role") or [""])[0]
            with self.lock:
                users = [
                    {k: v for k, v in u.items() if k != "password"}
                    for u in self.users.values()
                    if not role or u["role"] == role
                ]
            return Answer(200, {"users": users})
        if path == "/users" and method == "POST":
            if not isinstance(body, dict) or not all(
                isinstance(body.get(k), str) and body.get(k) for k in ("name", "role", "password")
            ):
                return error(400, "malformed body")
            with self.lock:
                existing = self.users.get(body["name"])
                same = existing and existing["role"] == body["role"] and existing["password"] == body["password"]
                if same and self.replays:
                    # A replayed create (same name, role, password): 200, as the contract has it.
                    return Answer(200, {k: v for k, v in existing.items() if k != "password"})
                if existing:
                    return error(409, "user exists")
                if body["role"] == "admin" and any(u["role"] == "admin" for u in self.users.values()):
                    return error(409, "admin exists")
                user = {"name": body["name"], "role": body["role"], "created_at": _now(), "password": body["password"]}
                self.users[body["name"]] = user
                if self.lost_creates:
                    return self.lost_creates.pop(0)
            return Answer(201, {k: v for k, v in user.items() if k != "password"})
        if path == "/tokens" and method == "POST":
            if not isinstance(body, dict) or not isinstance(body.get("subject"), str):
                return error(400, "malformed body")
            token = "tok-" + secrets.token_urlsafe(32)
            with self.lock:
                self.issued.append(token)
            now = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=self.clock_offset_s)
            expires = now + dt.timedelta(seconds=int(body.get("ttl_s") or 86400))
            return Answer(
                201,
                {
                    "token": token,
                    "subject": body["subject"],
                    "expires_at": (
                        expires.isoformat(timespec="seconds")
                        if self.token_expires_at is None
                        else self.token_expires_at
                    ),
                },
                {"Date": email.utils.format_datetime(now, usegmt=True)} if self.clock_offset_s else {},
            )
        return error(404, f"no such endpoint: {method} {path}")


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


# ---------------------------------------------------------------------------------------------
# The server


class _Handler(BaseHTTPRequestHandler):
    server: _HttpServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self) -> None:
        fake = self.server.fake
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        headers = {k.lower(): v for k, v in self.headers.items()}
        query = parse_qs(parts.query)
        at = time.monotonic()
        answer = fake.answer(self.command, parts.path, query, body, headers)
        fake.record(
            Recorded(fake.name, self.command, parts.path, query, body, headers, at, answer.status if answer else 0)
        )
        delay = (answer.delay_s if answer else 0.0) + fake.delay_for(self.command, parts.path)
        if delay and fake.stop.wait(delay):
            return  # closing: drop the connection
        if answer is None:
            self.close_connection = True
            return
        data = b"" if answer.body is None else json.dumps(answer.body).encode("utf-8")
        if any(name.lower() == "date" for name in answer.headers):
            self.log_request(answer.status)  # the answer's own Date (a skewed clock), not a second one
            self.send_response_only(answer.status)
        else:
            self.send_response(answer.status)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        if data:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data and self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _serve


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False
    fake: FakeServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # TLS handshakes that fail on purpose, clients that hang up: not test failures


Role = str  # "leader" | "follower"


class FakeServer:
    """One fake HTTP(S) service. See the module docstring for how it answers."""

    def __init__(
        self,
        name: str,
        *,
        host: str = LOOPBACK,
        port: int = 0,
        tls: ServerTls | None = None,
        cluster: Cluster | None = None,
        role: Role = "leader",
        follower_answer: int = 421,  # 421 (+ X-Leader-URL) or 307 (+ Location) on admin writes
        follower_lists: bool = True,  # a follower answers GET /admin/members itself (else 421/307 too)
        iam: Iam | None = None,
        healthy: bool = True,
    ) -> None:
        self.name = name
        self.tls = tls
        self.cluster = cluster
        self.role = role
        self.follower_answer = follower_answer
        self.follower_lists = follower_lists
        self.iam = iam
        self.healthy = healthy
        self.healthy_at = 0.0  # monotonic time from which /health answers 200
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._requests: list[Recorded] = []
        self._scripts: dict[tuple[str, str], _Script] = {}
        self._delays: dict[tuple[str, str], float] = {}
        self._httpd = _HttpServer((host, port), _Handler, bind_and_activate=True)
        self._httpd.fake = self
        if tls is not None:
            self._httpd.socket = tls.context().wrap_socket(
                self._httpd.socket, server_side=True, do_handshake_on_connect=False
            )
        self.host, self.port = host, int(self._httpd.server_address[1])
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        if cluster is not None and role == "leader":
            cluster.set_leader(self.url)

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    def close(self) -> None:
        self.stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    # scripting

    def script(self, method: str, path: str, *answers: Answer, repeat_last: bool = False) -> None:
        """Answer (method, path) with these, in turn; then fall through (or repeat the last)."""
        with self._lock:
            self._scripts[(method, path)] = _Script(list(answers), repeat_last)

    def delay(self, method: str, path: str, seconds: float) -> None:
        with self._lock:
            self._delays[(method, path)] = seconds

    def delay_for(self, method: str, path: str) -> float:
        with self._lock:
            return self._delays.get((method, path), 0.0)

    def healthy_after(self, seconds: float) -> None:
        self.healthy = True
        self.healthy_at = time.monotonic() + seconds

    # the request log

    def record(self, request: Recorded) -> None:
        with self._lock:
            self._requests.append(request)

    @property
    def requests(self) -> list[Recorded]:
        with self._lock:
            return list(self._requests)

    def requests_to(self, method: str, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path == path]

    def admin_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path.startswith("/admin")]

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()

    # answering

    def answer(
        self, method: str, path: str, query: Mapping[str, list[str]], body: Any, headers: Mapping[str, str]
    ) -> Answer:
        with self._lock:
            script = self._scripts.get((method, path))
            scripted = script.next() if script else None
        if scripted is not None:
            return scripted
        if path == "/health" and method == "GET":
            if self.healthy and time.monotonic() >= self.healthy_at:
                return Answer(200, {"status": "ok", "service": self.name})
            return Answer(503, {"status": "starting"}, {"Retry-After": "1"})
        if self.cluster is not None and path.startswith("/admin/"):
            return self._cluster(method, path, body)
        if self.iam is not None:
            return self.iam.handle(method, path, query, body, headers)
        return error(404, f"no such endpoint: {method} {path}")

    def _cluster(self, method: str, path: str, body: Any) -> Answer:
        cluster = self.cluster
        if cluster is None:
            return error(404, f"no such endpoint: {method} {path}")
        if self.role != "leader" and (method != "GET" or not self.follower_lists):
            leader = cluster.leader_url
            if self.follower_answer in (301, 302, 307, 308):
                return Answer(
                    self.follower_answer,
                    {"error": "not the leader", "leader_url": leader},
                    {"Location": leader + path, "X-Leader-URL": leader},
                )
            return Answer(421, {"error": "not the leader", "leader_url": leader}, {"X-Leader-URL": leader})
        if path == "/admin/members" and method == "GET":
            return Answer(200, cluster.view())
        if path == "/admin/member/add" and method == "POST":
            return cluster.add(body, self.stop)
        if path.startswith("/admin/member/") and method == "DELETE":
            return cluster.remove(path.rsplit("/", 1)[1])
        return error(404, f"no such endpoint: {method} {path}")


def free_port(host: str = LOOPBACK) -> int:
    """A port nobody listens on (bound, then closed: connecting to it is refused)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


ServerFactory = Callable[..., FakeServer]
