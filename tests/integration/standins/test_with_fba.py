"""The node automation (`fba join`) driven against the chainfire stand-ins on loopback."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from standins import httpclient
from standins.launcher import wait_until

from .fba_nodes import FBA, FbaCluster

pytestmark = pytest.mark.skipif(not Path(FBA).exists(), reason="fba is not installed")


def _rc(proc: subprocess.Popen[str], timeout: float = 90) -> int:
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
        raise


def _cluster(tmp: Path, nodes: int) -> FbaCluster:
    c = FbaCluster(tmp, nodes)
    for n in (1, 2, 3):
        c.start_chainfire(n, bootstrap=True)
    joins = [c.fba_join(n, bootstrap=True) for n in (1, 2, 3)]
    assert [_rc(p) for p in joins] == [0, 0, 0]
    return c


@pytest.fixture
def fba_cluster(tmp_path: Path) -> Iterator[list[FbaCluster]]:
    made: list[FbaCluster] = []
    yield made
    for c in made:
        c.close()


def _add_calls(c: FbaCluster) -> int:
    return sum(p.log_text().count('"path": "/admin/member/add"') for p in c.procs.values())


def test_bootstrap_then_join_again_and_reboot(fba_cluster: list[FbaCluster],
                                              tmp_path: Path) -> None:
    c = _cluster(tmp_path, 4)
    fba_cluster.append(c)
    for n in (1, 2, 3):
        assert (c.state_dir(n) / ".chainfire-initialized").exists()
    c.start_chainfire(4, bootstrap=False)
    assert _rc(c.fba_join(4)) == 0
    assert (c.state_dir(4) / ".chainfire-joined").exists()
    assert c.members(1) == ["node01", "node02", "node03", "node04"]
    wait_until("node04 follows", lambda: httpclient.request(
        "GET", c.url(4) + "/health").body.get("leader"), 15)

    (c.state_dir(4) / ".chainfire-joined").unlink()  # force a real second request
    assert _rc(c.fba_join(4)) == 2
    assert c.members(1).count("node04") == 1

    calls = _add_calls(c)
    c.procs["node04"].stop()
    c.start_chainfire(4, bootstrap=False)  # "reboot": same data and state dirs
    assert _rc(c.fba_join(4)) == 2
    assert _add_calls(c) == calls
    assert c.members(1).count("node04") == 1


def test_join_storm_of_twenty(fba_cluster: list[FbaCluster], tmp_path: Path) -> None:
    c = _cluster(tmp_path, 23)
    fba_cluster.append(c)
    joiners = range(4, 24)
    for n in joiners:
        c.start_chainfire(n, bootstrap=False)
    procs = {n: c.fba_join(n) for n in joiners}
    codes = {n: _rc(p, 120) for n, p in procs.items()}
    assert codes == {n: 0 for n in joiners}
    members = c.members(1)
    assert len(members) == 23 and len(set(members)) == 23


def test_leader_killed_mid_join(fba_cluster: list[FbaCluster], tmp_path: Path) -> None:
    c = FbaCluster(tmp_path, 4)
    fba_cluster.append(c)
    for n in (1, 2, 3):
        c.start_chainfire(n, "--admin-delay", "1.0", bootstrap=True)
    assert [_rc(p) for p in [c.fba_join(n, bootstrap=True) for n in (1, 2, 3)]] == [0, 0, 0]
    leader_id = wait_until("leader", lambda: httpclient.request(
        "GET", c.url(1) + "/health").body.get("leader"), 15)["id"]
    c.start_chainfire(4, bootstrap=False)
    join = c.fba_join(4)
    wait_until("add in flight", lambda: httpclient.request(
        "GET", c.url(int(leader_id[-2:])) + "/health").body.get("change_in_flight") or None,
        20, interval=0.02)
    c.procs[leader_id].kill()
    rc = _rc(join)
    assert rc in (0, 1)
    survivor = next(n for n in (1, 2, 3) if c.node_id(n) != leader_id)
    members = wait_until("survivors agree", lambda: c.members(survivor), 15)
    assert members.count("node04") <= 1
    if rc == 0:
        assert "node04" in members
        time.sleep(0.1)
        assert (c.state_dir(4) / ".chainfire-joined").exists()
