"""A chainfire stand-in cluster on loopback driven by real `fba join` processes.

Node n lives on 127.1.<k>.n (k random per cluster, so parallel runs on xdist workers rarely
share addresses) with three API listeners: the cluster-wide port P on its own address (peers
derive URLs from raft host + P), and a per-node port L_n on its address and on 127.0.0.1
(`fba` checks local health at 127.0.0.1:<api_port>). Every process started here is tracked;
`close()` resumes paused ones and kills everything left.

Test support only: imports `standins` (the launcher's process wrapper and HTTP client) and
`automation.spec` data, never `automation` code.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from automation.spec.markers import Service, Step, marker_name
from standins import httpclient
from standins.errors import ClientError
from standins.launcher import StandinProcess, common_free_port

FBA = str(Path(sys.executable).with_name("fba"))
BOOTSTRAP = (1, 2, 3)
JOINED_MARKER = marker_name(Service.CHAINFIRE, Step.JOINED)
INITIALIZED_MARKER = marker_name(Service.CHAINFIRE, Step.INITIALIZED)
HTTP_TIMEOUT = 1.0  # a SIGSTOPped node accepts connections and never answers
JOIN_TIMEOUT = 60.0  # hard cap on one `fba join` process (its own deadline is 40 s)


@dataclass(frozen=True)
class Member:
    id: str
    raft_addr: str


@dataclass(frozen=True)
class View:
    """One node's answer to GET /admin/members."""

    node: int
    members: tuple[Member, ...]
    leader: str | None
    has_quorum: bool
    change_in_flight: bool

    @property
    def ids(self) -> list[str]:
        return [m.id for m in self.members]


@dataclass
class JoinRun:
    """One `fba join` process and what it was started with."""

    node: int
    boot: int
    failpoints: str
    proc: subprocess.Popen[bytes]
    started: float = field(default_factory=time.monotonic)
    rc: int | None = None
    interrupted: bool = False  # killed by the test (a reboot), not by itself

    def poll(self) -> int | None:
        if self.rc is None:
            got = self.proc.poll()
            if got is not None:
                self.rc = got
            elif time.monotonic() - self.started > JOIN_TIMEOUT:
                self.proc.kill()
                self.rc = self.proc.wait(5.0)
        return self.rc


class ProcessCluster:
    """Bootstrap nodes 1-3 plus join-mode nodes 4..size, one chainfire stand-in each."""

    def __init__(self, workdir: Path, size: int = 6, rng: random.Random | None = None) -> None:
        self.workdir = workdir
        self.size = size
        rng = rng or random.Random()
        self.subnet = f"127.1.{rng.randrange(2, 250)}"
        self.hosts = {n: f"{self.subnet}.{n}" for n in range(1, size + 1)}
        everywhere = [*self.hosts.values(), "127.0.0.1"]
        taken: set[int] = set()
        ports: list[int] = []
        for _ in range(size + 2):
            port = common_free_port(everywhere, rng)
            for _retry in range(50):
                if port not in taken:
                    break
                port = common_free_port(everywhere, rng)
            taken.add(port)
            ports.append(port)
        self.port, self.raft_port = ports[0], ports[1]
        self.local = {n: ports[1 + n] for n in self.hosts}
        self.procs: dict[int, StandinProcess] = {}
        self.paused: set[int] = set()
        self.boots = {n: 0 for n in self.hosts}

    # -- names -------------------------------------------------------------------------------
    @staticmethod
    def node_id(n: int) -> str:
        return f"node{n:02d}"

    def number(self, node_id: str) -> int | None:
        return next((n for n in self.hosts if self.node_id(n) == node_id), None)

    def url(self, n: int) -> str:
        return f"http://{self.hosts[n]}:{self.port}"

    def raft_addr(self, n: int) -> str:
        return f"{self.hosts[n]}:{self.raft_port}"

    def node_dir(self, n: int) -> Path:
        return self.workdir / self.node_id(n)

    def state_dir(self, n: int) -> Path:
        return self.node_dir(n) / "state"

    def peers(self) -> list[str]:
        return [f"{self.node_id(n)}={self.raft_addr(n)}" for n in BOOTSTRAP]

    def marker(self, n: int) -> Path:
        return self.state_dir(n) / (INITIALIZED_MARKER if n in BOOTSTRAP else JOINED_MARKER)

    # -- chainfire processes -------------------------------------------------------------------
    def running(self, n: int) -> bool:
        proc = self.procs.get(n)
        return proc is not None and proc.running

    def live(self) -> list[int]:
        """Running and not paused."""
        return [n for n in sorted(self.procs) if self.running(n) and n not in self.paused]

    def start_chainfire(self, n: int) -> StandinProcess:
        """Start (or restart, on the same data dir) node n's stand-in."""
        if self.running(n):
            return self.procs[n]
        h = self.hosts[n]
        d = self.node_dir(n)
        d.mkdir(parents=True, exist_ok=True)
        argv = [
            sys.executable,
            "-m",
            "standins.chainfire",
            "--node-id",
            self.node_id(n),
            "--api-addr",
            f"{h}:{self.port},{h}:{self.local[n]},127.0.0.1:{self.local[n]}",
            "--raft-addr",
            self.raft_addr(n),
            "--data-dir",
            str(d / "data"),
            "--raft-profile",
            "fast",
            "--commit-timeout",
            "5",
            "--log-format",
            "json",
        ]
        if n in BOOTSTRAP:
            argv += ["--initial-cluster", ",".join(self.peers())]
        proc = StandinProcess(self.node_id(n), argv, d / "chainfire.log").start()
        self.procs[n] = proc
        self.paused.discard(n)
        return proc

    def kill(self, n: int) -> None:
        proc = self.procs.get(n)
        if proc is None or proc.proc is None:
            return
        if n in self.paused:
            proc.proc.send_signal(signal.SIGCONT)
            self.paused.discard(n)
        proc.kill()

    def pause(self, n: int) -> None:
        proc = self.procs.get(n)
        if proc is not None and proc.proc is not None and proc.running:
            proc.proc.send_signal(signal.SIGSTOP)
            self.paused.add(n)

    def resume(self, n: int) -> None:
        proc = self.procs.get(n)
        if proc is not None and proc.proc is not None and n in self.paused:
            proc.proc.send_signal(signal.SIGCONT)
        self.paused.discard(n)

    # -- fba -------------------------------------------------------------------------------------
    def config(self, n: int) -> Path:
        cfg: dict[str, Any] = {
            "node_id": self.node_id(n),
            "node_role": "control-plane" if n in BOOTSTRAP else "worker",
            "bootstrap": n in BOOTSTRAP,
            "cluster_name": "faults",
            "leader_url": self.url(1),
            "raft_addr": self.raft_addr(n),
            "initial_peers": self.peers(),
            "services": {
                "chainfire": {"api_port": self.local[n], "raft_port": self.raft_port, "leader_url": self.url(1)}
            },
            "health": {"timeout_s": 20, "max_interval_s": 0.5, "request_timeout_s": 1.0},
            "join": {
                "max_attempts": 40,
                "retry_delay_s": 0.2,
                "max_retry_delay_s": 1.0,
                "deadline_s": 40,
                "request_timeout_s": 2.0,
            },
            "discovery": {"peer_urls": [self.url(i) for i in BOOTSTRAP]},
        }
        path = self.node_dir(n) / "cluster-config.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(cfg))
        path.chmod(0o600)  # fba refuses a config others may read (it can hold notify_token)
        return path

    def fired_file(self, n: int) -> Path:
        """The failpoints' once-per-boot record: a new boot gets a new file (/run is a tmpfs)."""
        return self.node_dir(n) / "run" / f"boot{self.boots[n]}" / "failpoints.fired"

    def reboot_counter(self, n: int) -> None:
        self.boots[n] += 1

    def fba_join(self, n: int, failpoints: str = "") -> JoinRun:
        cfg = self.config(n)
        env = {k: v for k, v in os.environ.items() if not k.startswith("FBA_")}
        env["FBA_FAILPOINTS"] = failpoints
        env["PYTHONUNBUFFERED"] = "1"  # a run killed by a failpoint or a reboot keeps its last lines
        env["FBA_FAILPOINTS_FIRED"] = str(self.fired_file(n))
        with (self.node_dir(n) / "fba.log").open("ab") as log:
            log.write(f"--- boot {self.boots[n]} fba join failpoints={failpoints!r}\n".encode())
            log.flush()
            proc = subprocess.Popen(
                [FBA, "--config", str(cfg), "--state-dir", str(self.state_dir(n)), "join", "--service", "chainfire"],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        return JoinRun(n, self.boots[n], failpoints, proc)

    # -- views -------------------------------------------------------------------------------------
    def view(self, n: int, timeout: float = HTTP_TIMEOUT) -> View | None:
        if n not in self.live():
            return None
        try:
            got = httpclient.request("GET", self.url(n) + "/admin/members", timeout=timeout)
        except ClientError:
            return None
        body = got.body
        if got.status != 200 or not isinstance(body, dict):
            return None
        members = tuple(
            Member(str(m.get("id")), str(m.get("raft_addr"))) for m in body.get("members") or [] if isinstance(m, dict)
        )
        leader = body.get("leader")
        return View(
            n,
            members,
            leader.get("id") if isinstance(leader, dict) else None,
            bool(body.get("has_quorum")),
            bool(body.get("change_in_flight")),
        )

    def views(self, nodes: Sequence[int] | None = None) -> list[View]:
        return [v for v in (self.view(n) for n in (nodes or self.live())) if v is not None]

    def leader_view(self) -> View | None:
        """The view of a live node that says it is the leader, and that a majority of the live
        nodes agrees on (so a deposed leader that has not noticed yet is not believed)."""
        views = self.views()
        for v in views:
            if v.leader != self.node_id(v.node):
                continue
            agree = sum(1 for w in views if w.leader == v.leader)
            if agree * 2 > len(v.members):
                return v
        return None

    def leader(self) -> int | None:
        v = self.leader_view()
        return None if v is None else v.node

    def close(self) -> None:
        for n in list(self.paused):
            self.resume(n)
        procs = list(self.procs.values())
        for proc in procs:
            if proc.running and proc.proc is not None:
                proc.proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.stop(timeout=3.0)
