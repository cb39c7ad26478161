"""Loopback nodes for driving the real `fba` CLI against chainfire stand-ins.

`fba` checks local health at 127.0.0.1:<api_port> and advertises <raft host>:<api_port>.
On one loopback host every node therefore gets its own API port L_i, served on 127.0.0.1
and on 127.0.1.i, plus the cluster-wide port P on 127.0.1.i that peers derive URLs from.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from standins import httpclient
from standins.launcher import StandinProcess, common_free_port, stop_all

FBA = str(Path(sys.executable).with_name("fba"))


class FbaCluster:
    def __init__(self, workdir: Path, nodes: int) -> None:
        self.workdir = workdir
        self.hosts = {n: f"127.0.1.{n}" for n in range(1, nodes + 1)}
        all_hosts = [*self.hosts.values(), "127.0.0.1"]
        self.port = common_free_port(all_hosts)
        self.raft_port = common_free_port(all_hosts)
        self.local: dict[int, int] = {}
        for n in self.hosts:
            port = common_free_port(all_hosts)
            while port in (self.port, self.raft_port, *self.local.values()):
                port = common_free_port(all_hosts)
            self.local[n] = port
        self.procs: dict[str, StandinProcess] = {}

    def node_id(self, n: int) -> str:
        return f"node{n:02d}"

    def url(self, n: int) -> str:
        return f"http://{self.hosts[n]}:{self.port}"

    def peers(self) -> list[str]:
        return [f"{self.node_id(n)}={self.hosts[n]}:{self.raft_port}" for n in (1, 2, 3)]

    def start_chainfire(self, n: int, *extra: str, bootstrap: bool) -> StandinProcess:
        h = self.hosts[n]
        d = self.workdir / self.node_id(n)
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
            f"{h}:{self.raft_port}",
            "--data-dir",
            str(d / "data"),
            "--raft-profile",
            "fast",
            *extra,
        ]
        if bootstrap:
            argv += ["--initial-cluster", ",".join(self.peers())]
        proc = StandinProcess(self.node_id(n), argv, d / "chainfire.log").start()
        self.procs[proc.name] = proc
        return proc

    def config(self, n: int, bootstrap: bool, **join: Any) -> Path:
        cfg = {
            "node_id": self.node_id(n),
            "node_role": "control-plane" if n <= 3 else "worker",
            "bootstrap": bootstrap,
            "cluster_name": "c1",
            "leader_url": self.url(1),
            "raft_addr": f"{self.hosts[n]}:{self.raft_port}",
            "initial_peers": self.peers(),
            "services": {
                "chainfire": {"api_port": self.local[n], "raft_port": self.raft_port, "leader_url": self.url(1)}
            },
            "health": {"timeout_s": 30, "max_interval_s": 0.5},
            "join": {"max_attempts": 30, "retry_delay_s": 0.2, "max_retry_delay_s": 1.0, "deadline_s": 60, **join},
            "discovery": {"peer_urls": [self.url(i) for i in (1, 2, 3)]},
        }
        path = self.workdir / self.node_id(n) / "cluster-config.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(cfg))
        path.chmod(0o600)  # fba refuses a config others may read (it can hold notify_token)
        return path

    def state_dir(self, n: int) -> Path:
        return self.workdir / self.node_id(n) / "state"

    def fba_join(self, n: int, *extra: str, bootstrap: bool = False, **join: Any) -> subprocess.Popen[str]:
        cfg = self.config(n, bootstrap, **join)
        log = (self.workdir / self.node_id(n) / "fba.log").open("a")
        return subprocess.Popen(
            [
                FBA,
                "--config",
                str(cfg),
                "--state-dir",
                str(self.state_dir(n)),
                "join",
                "--service",
                "chainfire",
                *extra,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )

    def members(self, n: int) -> list[str]:
        body = httpclient.request("GET", self.url(n) + "/admin/members", timeout=3).body
        return [m["id"] for m in body["members"]]

    def close(self) -> None:
        stop_all(list(self.procs.values()))
