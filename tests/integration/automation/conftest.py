"""Fixtures: fake services on loopback, a test PKI, and `fba` run as a subprocess.

Every server is closed in teardown; every `fba` run has a hard timeout and is killed if it
overruns. Timings in the generated config are small (tens of milliseconds), so each test
takes about a second.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .fakes import LOOPBACK, Cluster, FakeServer, Iam, Pki, ServerTls, free_port, make_pki
from .rawpeers import Behaviour, RawPeer

FBA = Path(sys.executable).with_name("fba")
PEER_HOST = "127.0.0.2"
NODE_ID = "node04"
RAFT_ADDR = "127.0.0.1:2380"

FAST_HEALTH: dict[str, Any] = {
    "timeout_s": 5,
    "initial_interval_s": 0.02,
    "max_interval_s": 0.2,
    "request_timeout_s": 1,
}
FAST_JOIN: dict[str, Any] = {
    "max_attempts": 3,
    "retry_delay_s": 0.05,
    "max_retry_delay_s": 0.2,
    "deadline_s": 15,
    "request_timeout_s": 1,
}


def merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """Deep merge of JSON objects (update wins; nested objects merge)."""
    out = copy.deepcopy(dict(base))
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


# ---------------------------------------------------------------------------------------------
# Running fba


@dataclass(frozen=True)
class FbaResult:
    argv: tuple[str, ...]
    rc: int
    stdout: str
    stderr: str
    elapsed_s: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    @property
    def lines(self) -> list[dict[str, Any]]:
        """Every stdout line as JSON; fails the test naming the first line that is not."""
        out = []
        for line in self.stdout.splitlines():
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except ValueError:
                pytest.fail(f"stdout line is not JSON: {line!r}\n{self.describe()}")
            if not isinstance(value, dict):
                pytest.fail(f"stdout line is not a JSON object: {line!r}")
            out.append(value)
        return out

    @property
    def last(self) -> dict[str, Any]:
        lines = self.lines
        if not lines:
            pytest.fail(f"no log lines\n{self.describe()}")
        return lines[-1]

    def with_message(self, text: str, level: str | None = None) -> list[dict[str, Any]]:
        return [
            line
            for line in self.lines
            if text in str(line.get("message", "")) and (level is None or line.get("level") == level)
        ]

    def levels(self, level: str) -> list[dict[str, Any]]:
        return [line for line in self.lines if line.get("level") == level]

    def describe(self) -> str:
        return f"argv={' '.join(self.argv)}\nrc={self.rc}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


def cause(line: Mapping[str, Any]) -> Any:
    context = line.get("context")
    return context.get("cause") if isinstance(context, dict) else None


class Fba:
    """`fba` with this test's config, state dir and failpoint record."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.config_path = root / "cluster-config.json"
        self.state_dir = root / "state"
        self.fired_file = root / "failpoints.fired"

    def write_config(self, config: Mapping[str, Any] | str | bytes) -> Path:
        data = (
            config
            if isinstance(config, bytes)
            else (config if isinstance(config, str) else json.dumps(config)).encode()
        )
        fd = os.open(self.config_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        os.chmod(self.config_path, 0o600)
        return self.config_path

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FBA_")}
        env["FBA_FAILPOINTS_FIRED"] = str(self.fired_file)
        env.update(extra or {})
        return env

    def run(
        self,
        *args: str,
        env: Mapping[str, str] | None = None,
        timeout: float = 30.0,
        global_paths: bool = True,
    ) -> FbaResult:
        argv = [str(FBA)]
        if global_paths:
            argv += ["--config", str(self.config_path), "--state-dir", str(self.state_dir)]
        argv += list(args)
        return self._run(argv, self.env(env), timeout)

    def start(self, *args: str, env: Mapping[str, str] | None = None) -> subprocess.Popen[str]:
        argv = [str(FBA), "--config", str(self.config_path), "--state-dir", str(self.state_dir), *args]
        return subprocess.Popen(argv, env=self.env(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    @staticmethod
    def _run(argv: list[str], env: Mapping[str, str], timeout: float) -> FbaResult:
        started = time.monotonic()
        try:
            done = subprocess.run(argv, env=dict(env), capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as err:
            pytest.fail(f"fba did not finish within {timeout}s (hang): {' '.join(argv)}\n{err.stdout!r}")
        return FbaResult(tuple(argv), done.returncode, done.stdout, done.stderr, time.monotonic() - started)

    def marker(self, name: str) -> Path:
        return self.state_dir / name


def collect(proc: subprocess.Popen[str], timeout: float = 30.0) -> FbaResult:
    """Wait for a process from `Fba.start` (killed, and the test failed, if it overruns)."""
    started = time.monotonic()
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail(f"fba did not finish within {timeout}s (hang): {proc.args!r}")
    args = proc.args if isinstance(proc.args, list) else [str(proc.args)]
    return FbaResult(tuple(str(a) for a in args), proc.returncode, stdout, stderr, time.monotonic() - started)


@pytest.fixture
def fba(tmp_path: Path) -> Fba:
    return Fba(tmp_path)


# ---------------------------------------------------------------------------------------------
# Fake servers


class Servers:
    """Starts fake servers and closes every one of them in teardown."""

    def __init__(self) -> None:
        self.started: list[FakeServer] = []

    def start(self, name: str, **kwargs: Any) -> FakeServer:
        server = FakeServer(name, **kwargs)
        self.started.append(server)
        return server

    def close(self) -> None:
        for server in self.started:
            server.close()


@pytest.fixture
def servers() -> Iterator[Servers]:
    made = Servers()
    yield made
    made.close()


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path / "pki", "fba test CA A")


@pytest.fixture
def other_pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path / "pki-other", "fba test CA B")


class Node:
    """This node's local services (chainfire, flaredb, iam on 127.0.0.1), their clusters and
    leaders, and the config that ties them together.

    The local ports are also free on 127.0.0.2, where `peer()` puts servers: fba derives a
    peer's API URL from `initial_peers` hosts and the service's own API port.
    """

    def __init__(self, servers: Servers, root: Path, *, tls: ServerTls | None = None) -> None:
        self.servers = servers
        self.root = root
        self.tls = tls
        self.iam_state = Iam()
        self.chainfire, self.flaredb, self.iam = self._locals()
        self.clusters = {"chainfire": Cluster(), "flaredb": Cluster(leader_raft_addr="127.0.0.9:2480")}
        self.leaders: dict[str, FakeServer] = {}
        self.secrets = root / "secrets"
        self.secrets.mkdir(mode=0o700, exist_ok=True)
        self.token_path = self.secrets / "iam-bootstrap-token"
        self.credentials_path = self.secrets / "iam-admin.json"

    def _locals(self) -> tuple[FakeServer, FakeServer, FakeServer]:
        out: list[FakeServer] = []
        for name in ("chainfire", "flaredb", "iam"):
            for _ in range(50):
                port = free_port()
                if _free_on(PEER_HOST, port):
                    break
            iam = self.iam_state if name == "iam" else None
            out.append(self.servers.start(f"local-{name}", port=port, tls=self.tls, iam=iam))
        return out[0], out[1], out[2]

    def local(self, service: str) -> FakeServer:
        return {"chainfire": self.chainfire, "flaredb": self.flaredb, "iam": self.iam}[service]

    def leader(self, service: str = "chainfire", **kwargs: Any) -> FakeServer:
        """The service's leader (stateful member list); one per service, started on first use."""
        if service not in self.leaders:
            kwargs.setdefault("tls", self.tls)
            self.leaders[service] = self.servers.start(f"leader-{service}", cluster=self.clusters[service], **kwargs)
        return self.leaders[service]

    def serve_members(self) -> None:
        """The local chainfire and flaredb answer GET /admin/members from their clusters."""
        for service in ("chainfire", "flaredb"):
            local = self.local(service)
            local.cluster, local.role = self.clusters[service], "follower"

    def list_self(self) -> None:
        """This node listed in both clusters, with its local API URL."""
        self.clusters["chainfire"].add_member(NODE_ID, RAFT_ADDR, self.chainfire.url)
        self.clusters["flaredb"].add_member(NODE_ID, "127.0.0.1:2480", self.flaredb.url)

    def peer(self, service: str, **kwargs: Any) -> FakeServer:
        """A server on 127.0.0.2 with the local API port of `service` (an `initial_peers` host)."""
        kwargs.setdefault("tls", self.tls)
        return self.servers.start(f"peer-{service}", host=PEER_HOST, port=self.local(service).port, **kwargs)

    def write_token(self, token: str | None = None, mode: int = 0o600) -> str:
        value = self.iam_state.bootstrap_token if token is None else token
        fd = os.open(self.token_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        try:
            os.write(fd, value.encode() + b"\n")
        finally:
            os.close(fd)
        os.chmod(self.token_path, mode)
        return value

    def config(self, **overrides: Any) -> dict[str, Any]:
        scheme = "https" if self.tls else "http"
        leaders = {s: self.leaders[s].url for s in self.leaders}
        chainfire_leader = leaders.get("chainfire", f"{scheme}://{LOOPBACK}:{free_port()}")
        services: dict[str, Any] = {
            "chainfire": {"api_port": self.chainfire.port, "raft_port": 2380, "leader_url": chainfire_leader},
            "flaredb": {"api_port": self.flaredb.port, "raft_port": 2480},
            "iam": {"api_port": self.iam.port},
        }
        # flaredb's leader defaults to the chainfire leader's host on flaredb's port, which is
        # this node's own flaredb API here (every server is on 127.0.0.1): a config error for a
        # joining node. A port nobody answers on stands in until a test starts that leader.
        services["flaredb"]["leader_url"] = leaders.get("flaredb", f"{scheme}://{LOOPBACK}:{free_port()}")
        config: dict[str, Any] = {
            "node_id": NODE_ID,
            "node_role": "control-plane",
            "bootstrap": False,
            "cluster_name": "testcluster",
            "leader_url": chainfire_leader,
            "raft_addr": RAFT_ADDR,
            "initial_peers": [],
            "services": services,
            "health": FAST_HEALTH,
            "join": FAST_JOIN,
            "iam": {"credentials_path": str(self.credentials_path), "bootstrap_token_path": str(self.token_path)},
            "preflight": {"min_disk_mb": 0, "min_memory_mb": 0, "disk_path": str(self.root)},
        }
        if self.tls:
            config["tls"] = {"enabled": True, "ca_cert_path": str(self.tls.pki.ca_cert)}
        return merge(config, overrides)


def _free_on(host: str, port: int) -> bool:
    import socket

    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


@pytest.fixture
def node(servers: Servers, tmp_path: Path) -> Node:
    return Node(servers, tmp_path)


@pytest.fixture
def tls_node(servers: Servers, tmp_path: Path, pki: Pki) -> Node:
    return Node(servers, tmp_path, tls=ServerTls(pki))


PeerFactory = Callable[..., RawPeer]


@pytest.fixture
def raw_peer() -> Iterator[PeerFactory]:
    """Scripted raw-socket peers (`rawpeers.RawPeer`), each closed after the test."""
    made: list[RawPeer] = []

    def make(*script: Behaviour, **kwargs: Any) -> RawPeer:
        peer = RawPeer(*script, **kwargs)
        made.append(peer)
        return peer

    yield make
    for peer in made:
        peer.close()
