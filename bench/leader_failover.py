"""Leader failover time: SIGKILL the chainfire leader, time until a new leader serves
member add (201). Prints each run and the median; asserts nothing.

    .venv/bin/python bench/leader_failover.py --runs 5 [--profile fast|default]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from standins import httpclient
from standins.contract import Service
from standins.errors import ClientError
from standins.launcher import LocalCluster, wait_until


def one_run(workdir: Path, profile: str) -> tuple[float, float]:
    """(seconds to a new agreed leader, seconds to a 201 from it) after the kill."""
    cluster = LocalCluster(Service.CHAINFIRE, workdir, 4,
                           extra_args=["--raft-profile", profile])
    try:
        cluster.bootstrap(3)
        old = cluster.wait_leader([1, 2, 3], timeout=30)
        cluster.start_node(4)
        wait_until("node04 up", lambda: cluster.health(4), 15)
        rest = [n for n in (1, 2, 3) if n != old]
        killed = time.monotonic()
        cluster.procs[cluster.addr(old).id].kill()
        new = cluster.wait_leader(rest, timeout=60)
        elected = time.monotonic() - killed

        def added() -> bool | None:
            try:
                r = httpclient.request("POST", cluster.addr(new).api_url + "/admin/member/add",
                                       {"id": "node04", "raft_addr": cluster.addr(4).raft_addr},
                                       timeout=15)
            except ClientError:
                return None
            return True if r.status == 201 else None

        wait_until("member add on the new leader", added, 60, interval=0.05)
        return elected, time.monotonic() - killed
    finally:
        cluster.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--profile", choices=["fast", "default"], default="fast")
    args = parser.parse_args()
    elections, serving = [], []
    with tempfile.TemporaryDirectory(prefix="failover-") as tmp:
        for run in range(args.runs):
            elected, added = one_run(Path(tmp) / f"run{run}", args.profile)
            elections.append(elected)
            serving.append(added)
            print(f"run {run + 1}: new leader after {elected:.2f}s, member add 201 after "
                  f"{added:.2f}s")
    print(f"profile {args.profile}, {args.runs} runs: median new leader "
          f"{statistics.median(elections):.2f}s, median serving member add "
          f"{statistics.median(serving):.2f}s (min {min(serving):.2f}s, max {max(serving):.2f}s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
