"""Boot vs restore of a formed cluster, side by side in one run (issue 16).

    flock /tmp/fba-vm.lock .venv/bin/python bench/cluster_snapshot.py [--nodes 3] [--restores 2]

One boot: QEMU start of every node -> every node operational (`fba status --wait` done, as
the scenarios wait). Then a snapshot of that cluster (`Cluster.snapshot`), and `--restores`
restores of it, each in a new namespace: QEMU start -> every node answers over SSH with its
clock stepped, and -> operational. Prints seconds, the speed-up, and the snapshot's size per
node (state stream and disk). Asserts nothing. Needs root.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from harness.cluster.cluster import Cluster, ClusterOptions
from harness.cluster.operational import wait_operational
from harness.cluster.topology import Topology


def boot(run_dir: Path, topology: Topology, snap: Path) -> tuple[float, float]:
    """(seconds to operational, seconds to save) of one booted cluster."""
    begin = time.monotonic()
    with Cluster(ClusterOptions(run_dir=run_dir, topology=topology)) as cluster:
        cluster.start_all()
        cluster.wait_ready()
        wait_operational(cluster)
        operational = time.monotonic() - begin
        saved = cluster.snapshot(snap)
    return operational, saved.seconds


def restore(run_dir: Path, topology: Topology, snap: Path) -> tuple[float, float]:
    """(seconds to every node answering, seconds to operational) of one restore."""
    begin = time.monotonic()
    with Cluster(ClusterOptions(run_dir=run_dir, topology=topology, restore_from=snap)) as cluster:
        cluster.start_all()
        answered = time.monotonic() - begin
        wait_operational(cluster)
        return answered, time.monotonic() - begin


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--restores", type=int, default=2)
    args = parser.parse_args(argv)
    topology = Topology(bootstrap_nodes=args.nodes)
    with tempfile.TemporaryDirectory(prefix="fba-bench-snap-") as tmp:
        root = Path(tmp)
        snap = root / "snap"
        operational, save_s = boot(root / "boot", topology, snap)
        restores = [restore(root / f"restore{i}", topology, snap) for i in range(args.restores)]
        answered = statistics.median(r[0] for r in restores)
        restored_op = statistics.median(r[1] for r in restores)
        print(f"\n{args.nodes} nodes, this host ({sys.platform}):")
        print(f"  boot    -> operational   {operational:7.1f} s")
        print(
            f"  restore -> SSH answers   {answered:7.1f} s   (median of {len(restores)}: "
            f"{', '.join(f'{r[0]:.1f}' for r in restores)})"
        )
        speedup = operational / restored_op
        print(f"  restore -> operational   {restored_op:7.1f} s   ({speedup:.1f}x faster than the boot)")
        print(f"  save of the formed cluster {save_s:.1f} s")
        for path in sorted(snap.glob("*/*")):
            if path.suffix in (".zst", ".qcow2"):
                print(f"  {path.parent.name}/{path.name:12} {path.stat().st_size / 2**20:7.1f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
