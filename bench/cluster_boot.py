"""Boot-to-operational wall time of the 3-node cluster and peak memory per QEMU process.

    .venv/bin/python bench/cluster_boot.py [--nodes 3] [--runs 1] [--suite tests/vm/compat]

Per run: QEMU start of all nodes -> each node's READY console line -> `fba status --wait`
done on each node (the same bounded status command the scenarios use), as wall seconds from
the first QEMU start. While the nodes run, a sampler reads VmHWM (peak resident set) and
VmRSS from /proc/<pid>/status of every QEMU once a second; the issue's target is 512 MiB per
VM. With `--suite PATH`, also the wall time of `pytest PATH` (e.g. the VM compat scripts).
Prints numbers; asserts nothing. Needs root; run it under the shared VM lock:
`flock /tmp/fba-vm.lock .venv/bin/python bench/cluster_boot.py`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness.cluster.cluster import Cluster, ClusterOptions
from harness.cluster.topology import Topology
from harness.machine.qemu import DEFAULT_MEMORY_MB, DEFAULT_TB_SIZE_MB

STATUS_TIMEOUT = 600.0
TARGET_MIB = 512.0


@dataclass
class MemorySampler:
    """Reads VmHWM/VmRSS of the given pids once a second on a thread, until stopped."""

    pids: dict[str, int]
    interval: float = 1.0
    peak_kib: dict[str, int] = field(default_factory=dict)
    rss_kib: dict[str, int] = field(default_factory=dict)
    # The last sample's split: anonymous (guest RAM + TCG cache + QEMU heap) vs file-backed
    # (the mapped kernel/initrd and libraries, shared with the host page cache).
    anon_kib: dict[str, int] = field(default_factory=dict)
    file_kib: dict[str, int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def sample(self) -> None:
        for name, pid in self.pids.items():
            fields = _status_fields(pid)
            if "VmHWM" in fields:
                self.peak_kib[name] = max(self.peak_kib.get(name, 0), fields["VmHWM"])
            if "VmRSS" in fields:
                self.rss_kib[name] = fields["VmRSS"]
                self.anon_kib[name] = fields.get("RssAnon", 0) + fields.get("RssShmem", 0)
                self.file_kib[name] = fields.get("RssFile", 0)

    def __enter__(self) -> MemorySampler:
        def loop() -> None:
            while not self._stop.wait(self.interval):  # ends when stop is set
                self.sample()

        self.sample()
        self._thread = threading.Thread(target=loop, name="vmhwm", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.sample()
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


def _status_fields(pid: int) -> dict[str, int]:
    """`VmHWM`, `VmRSS` (kB) of a live QEMU; empty once it is gone."""
    try:
        if Path(f"/proc/{pid}/comm").read_text().strip() != "qemu-system-x86":
            return {}
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS", "RssAnon", "RssFile", "RssShmem"):
            out[key] = int(value.split()[0])
    return out


@dataclass(frozen=True)
class BootRun:
    accel: str
    ready: dict[str, float]
    operational: dict[str, float]
    status: dict[str, str]
    peak_mib: dict[str, float]
    rss_mib: dict[str, float]
    anon_mib: dict[str, float]
    file_mib: dict[str, float]
    guest_used_mib: dict[str, float]  # MemTotal - MemAvailable inside the guest, when operational


def one_run(nodes: int, run_dir: Path, memory_mb: int, tb_size_mb: int) -> BootRun:
    cluster = Cluster(ClusterOptions(run_dir=run_dir, topology=Topology(bootstrap_nodes=nodes),
                                     memory_mb=memory_mb, tb_size_mb=tb_size_mb,
                                     deadline=time.monotonic() + STATUS_TIMEOUT + 600))  # fmt: skip
    try:
        cluster.up()
        begin = time.monotonic()
        cluster.start_all()
        pids = {name: node.pid for name, node in cluster.nodes.items() if node.pid is not None}
        with MemorySampler(pids) as sampler:
            ready = cluster.wait_ready()
            operational: dict[str, float] = {}
            status: dict[str, str] = {}
            for name, node in cluster.nodes.items():
                out = node.succeed(f"fba status --wait --timeout {STATUS_TIMEOUT:.0f} --format json || true",
                                   timeout=STATUS_TIMEOUT + 60)  # fmt: skip
                operational[name] = time.monotonic() - begin
                status[name] = str(json.loads(out.strip().splitlines()[-1]).get("status"))
            guest_used = {name: _guest_used_mib(node.succeed("cat /proc/meminfo", timeout=60))
                          for name, node in cluster.nodes.items()}  # fmt: skip
        accel = cluster.accel.accel.value if cluster.accel else "?"
        def mib(kib: dict[str, int]) -> dict[str, float]:
            return {n: v / 1024 for n, v in kib.items()}

        return BootRun(accel, ready, operational, status, mib(sampler.peak_kib), mib(sampler.rss_kib),
                       mib(sampler.anon_kib), mib(sampler.file_kib), guest_used)  # fmt: skip
    finally:
        cluster.down()


def _guest_used_mib(meminfo: str) -> float:
    fields = {k: int(v.split()[0]) for k, _, v in (line.partition(":") for line in meminfo.splitlines()) if v}
    return (fields.get("MemTotal", 0) - fields.get("MemAvailable", 0)) / 1024


def suite_wall(path: str) -> tuple[int, float]:
    begin = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist", "-q", path],
                          check=False, timeout=3600)  # fmt: skip
    return done.returncode, time.monotonic() - begin


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nodes", type=int, default=3)
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--memory-mb", type=int, default=DEFAULT_MEMORY_MB, help="guest RAM (-m)")
    p.add_argument("--tb-size", type=int, default=DEFAULT_TB_SIZE_MB, help="TCG translation cache, MiB")
    p.add_argument("--suite", help="also time `pytest SUITE` (e.g. tests/vm/compat)")
    p.add_argument("--keep-dir", type=Path, help="run directories here (default: a temp dir, removed)")
    args = p.parse_args()
    runs: list[BootRun] = []
    with tempfile.TemporaryDirectory(prefix="fba-bench-boot-") as tmp:
        base = args.keep_dir or Path(tmp)
        for i in range(args.runs):
            run = one_run(args.nodes, base / f"run{i + 1}", args.memory_mb, args.tb_size)
            runs.append(run)
            print(f"run {i + 1} ({run.accel}):")
            nan = float("nan")
            for name in sorted(run.operational):
                print(f"  {name}: READY {run.ready.get(name, nan):6.1f} s   operational "
                      f"{run.operational[name]:6.1f} s ({run.status[name]})   peak RSS (VmHWM) "
                      f"{run.peak_mib.get(name, nan):6.1f} MiB   last RSS "
                      f"{run.rss_mib.get(name, nan):6.1f} MiB (anon {run.anon_mib.get(name, nan):.0f}, file "
                      f"{run.file_mib.get(name, nan):.0f})   guest in use "
                      f"{run.guest_used_mib.get(name, nan):.0f} MiB")  # fmt: skip
            print(f"  cluster boot-to-operational (QEMU start -> fba status done on all): "
                  f"{max(run.operational.values()):.1f} s")  # fmt: skip
    walls = [max(r.operational.values()) for r in runs]
    peaks = [mib for r in runs for mib in r.peak_mib.values()]
    print(f"\n{args.nodes}-node boot-to-operational: median {statistics.median(walls):.1f} s over {len(walls)} run(s) "
          f"[{', '.join(f'{w:.1f}' for w in walls)}]")  # fmt: skip
    print(f"peak RSS per QEMU: max {max(peaks):.1f} MiB, median {statistics.median(peaks):.1f} MiB "
          f"(target <= {TARGET_MIB:.0f} MiB; -m {args.memory_mb}, tb-size {args.tb_size})")  # fmt: skip
    if args.suite:
        rc, wall = suite_wall(args.suite)
        print(f"pytest {args.suite}: {wall:.1f} s wall (exit {rc})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
