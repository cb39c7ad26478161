"""Start and stop stand-in processes on loopback, for tests, benches and local demos.

Each node gets its own 127.0.1.x address; all nodes of a cluster share one API port and
one Raft port (so "API URL = raft host + API port" holds, as on real machines). Every
process started here is tracked and `LocalCluster.close()` kills what is left.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from standins import httpclient
from standins.contract import Service
from standins.errors import ClientError, StandinError
from standins.server import port_is_free

T = TypeVar("T")


def wait_until(what: str, probe: Callable[[], T | None], timeout: float,
               interval: float = 0.1) -> T:
    """Poll `probe` until it returns a value that is not None.

    Raises:
        StandinError: after `timeout` seconds, naming what was awaited, the attempts and the
            last value or error seen.
    """
    started = time.monotonic()
    deadline = started + timeout
    attempts = 0
    max_attempts = int(timeout / max(interval, 0.01)) + 2
    last: object = "nothing"
    while attempts < max_attempts:
        attempts += 1
        try:
            value = probe()
        except (StandinError, OSError, KeyError, TypeError) as err:
            last, value = f"{type(err).__name__}: {err}", None
        if value is not None:
            return value
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    raise StandinError(f"timed out waiting for {what}: {time.monotonic() - started:.1f}s/"
                       f"{timeout:.1f}s, {attempts} attempts; last saw {str(last)[:300]}")


def common_free_port(hosts: Sequence[str], rng: random.Random | None = None) -> int:
    """A port bindable on every host right now (20 000–59 999, random so parallel runs
    rarely collide).

    Raises:
        StandinError: no such port after 200 tries.
    """
    rng = rng or random.Random()
    for _ in range(200):
        port = rng.randrange(20000, 60000)
        if all(port_is_free(h, port) for h in hosts):
            return port
    raise StandinError(f"no common free port on {len(hosts)} loopback hosts after 200 tries")


@dataclass
class StandinProcess:
    """One daemon process and where its log goes."""

    name: str
    argv: list[str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self, env: dict[str, str] | None = None) -> StandinProcess:
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT,
                                         env={**os.environ, **(env or {})},
                                         start_new_session=True)
        return self

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 5.0) -> None:
        """Signal the process and wait for it; SIGKILL if it outlives `timeout`."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5.0)

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""


def stop_all(procs: Sequence[StandinProcess], timeout: float = 5.0) -> None:
    """SIGTERM every process at once, then wait for each (SIGKILL past `timeout`)."""
    for proc in procs:
        if proc.running and proc.proc is not None:
            proc.proc.send_signal(signal.SIGTERM)
    for proc in procs:
        proc.stop(timeout=timeout)


@dataclass(frozen=True)
class NodeAddr:
    id: str
    host: str
    api_port: int
    raft_port: int

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.api_port}"

    @property
    def raft_addr(self) -> str:
        return f"{self.host}:{self.raft_port}"


class LocalCluster:
    """chainfire or flaredb nodes on 127.0.1.<n>; node n is `node{n:02d}`."""

    def __init__(self, service: Service, workdir: Path, size_hint: int = 8,
                 extra_args: Sequence[str] = (), subnet: str = "127.0.1") -> None:
        self.service = service
        self.workdir = workdir
        self.subnet = subnet
        self.extra_args = list(extra_args)
        hosts = [f"{subnet}.{i}" for i in range(1, size_hint + 1)]
        self.api_port = common_free_port(hosts)
        self.raft_port = common_free_port(hosts)
        self.procs: dict[str, StandinProcess] = {}

    def addr(self, n: int) -> NodeAddr:
        return NodeAddr(f"node{n:02d}", f"{self.subnet}.{n}", self.api_port, self.raft_port)

    def initial_cluster(self, count: int) -> str:
        return ",".join(f"{self.addr(i).id}={self.addr(i).raft_addr}"
                        for i in range(1, count + 1))

    def argv(self, n: int, *extra: str, initial: str | None = None) -> list[str]:
        a = self.addr(n)
        argv = [sys.executable, "-m", f"standins.{self.service}", "--node-id", a.id,
                "--api-addr", f"{a.host}:{a.api_port}", "--raft-addr", a.raft_addr,
                "--data-dir", str(self.workdir / a.id / "data"), "--raft-profile", "fast",
                *self.extra_args, *extra]
        if initial:
            argv += ["--initial-cluster", initial]
        return argv

    def start_node(self, n: int, *extra: str, initial: str | None = None) -> StandinProcess:
        a = self.addr(n)
        (self.workdir / a.id).mkdir(parents=True, exist_ok=True)
        proc = StandinProcess(a.id, self.argv(n, *extra, initial=initial),
                              self.workdir / a.id / f"{self.service}.log").start()
        self.procs[a.id] = proc
        return proc

    def bootstrap(self, count: int = 3, *extra: str) -> None:
        initial = self.initial_cluster(count)
        for n in range(1, count + 1):
            self.start_node(n, *extra, initial=initial)

    def health(self, n: int) -> dict[str, Any] | None:
        try:
            result = httpclient.request("GET", self.addr(n).api_url + "/health", timeout=2.0)
        except ClientError:
            return None
        return result.body if result.status == 200 and isinstance(result.body, dict) else None

    def wait_leader(self, nodes: Sequence[int], timeout: float = 20.0) -> int:
        """The node number every listed node agrees is leader (with all members listed)."""

        def agreed() -> int | None:
            views = [self.health(n) for n in nodes]
            if any(v is None or v.get("leader") is None for v in views):
                return None
            leaders = {v["leader"]["id"] for v in views if v is not None}
            if len(leaders) != 1:
                return None
            lid = leaders.pop()
            return next((n for n in nodes if self.addr(n).id == lid), None)

        return wait_until(f"{self.service} leader agreed by {list(nodes)}", agreed, timeout)

    def close(self) -> None:
        stop_all(list(self.procs.values()))
