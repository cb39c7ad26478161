"""The node automation (`fba join`) driven against the chainfire stand-ins on loopback."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from standins import httpclient
from standins.launcher import wait_until

from .fba_nodes import FBA, FbaCluster


@pytest.fixture(autouse=True)
def _fba_installed() -> None:
    """`scripts/setup.sh` installs `fba` into .venv; without it these tests must fail, not
    vanish from the run as skips."""
    if not Path(FBA).exists():
        pytest.fail(f"fba is not installed at {FBA}: run scripts/setup.sh (it installs fba into .venv)", pytrace=False)


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


def test_bootstrap_then_join_again_and_reboot(fba_cluster: list[FbaCluster], tmp_path: Path) -> None:
    c = _cluster(tmp_path, 4)
    fba_cluster.append(c)
    for n in (1, 2, 3):
        assert (c.state_dir(n) / ".chainfire-initialized").exists()
    c.start_chainfire(4, bootstrap=False)
    assert _rc(c.fba_join(4)) == 0
    assert (c.state_dir(4) / ".chainfire-joined").exists()
    assert c.members(1) == ["node01", "node02", "node03", "node04"]
    wait_until("node04 follows", lambda: httpclient.request("GET", c.url(4) + "/health").body.get("leader"), 15)

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
    leader_id = wait_until("leader", lambda: httpclient.request("GET", c.url(1) + "/health").body.get("leader"), 15)[
        "id"
    ]
    c.start_chainfire(4, bootstrap=False)
    join = c.fba_join(4)
    wait_until(
        "add in flight",
        lambda: httpclient.request("GET", c.url(int(leader_id[-2:])) + "/health").body.get("change_in_flight") or None,
        20,
        interval=0.02,
    )
    c.procs[leader_id].kill()
    # The kill lands inside the leader's 1 s --admin-delay, before the add is submitted: the
    # POST's connection resets and nothing was added. The two survivors elect a new leader,
    # and the add there passes the quorum check (2 live + node04 answering = 3 of 4); the
    # join's 60 s deadline and 30 attempts leave ample room, so the one correct outcome is
    # exit 0 with node04 listed once. (Had the add committed just before the kill, the reset
    # counts as "may have been delivered" and the next read proves it: exit 0 as well.)
    rc = _rc(join)
    log = (c.workdir / c.node_id(4) / "fba.log").read_text()
    assert rc == 0, f"fba join exited {rc}; its log:\n{log[-3000:]}"
    assert (c.state_dir(4) / ".chainfire-joined").exists()  # written before fba exited 0
    survivor = next(n for n in (1, 2, 3) if c.node_id(n) != leader_id)

    def node04_listed() -> list[str] | None:
        members = c.members(survivor)
        return members if "node04" in members else None

    members = wait_until("node04 in the survivors' member list", node04_listed, 15)
    assert members.count("node04") == 1, members
