"""Join storm: N concurrent `fba join --service chainfire` against a 3-node stand-in
cluster, with fba's default policy and with the design's fixed policy (5 attempts x 10 s)
as the baseline. Prints time until all joined, failures and members; asserts nothing.

    .venv/bin/python bench/join_storm.py --nodes 20 [--skip-baseline]
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import tempfile
import time
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent


def _fba_nodes() -> ModuleType:
    # The loopback fba node helper lives with the integration tests; load it by path.
    path = ROOT / "tests" / "integration" / "standins" / "fba_nodes.py"
    spec = importlib.util.spec_from_file_location("fba_nodes", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def storm(workdir: Path, nodes: int, fba_args: list[str], label: str) -> None:
    fba_nodes = _fba_nodes()
    cluster = fba_nodes.FbaCluster(workdir, nodes + 3)
    try:
        for n in (1, 2, 3):
            cluster.start_chainfire(n, bootstrap=True)
        boot = [cluster.fba_join(n, bootstrap=True) for n in (1, 2, 3)]
        if [p.wait(120) for p in boot] != [0, 0, 0]:
            print(f"{label}: bootstrap failed; see {workdir}")
            return
        joiners = range(4, nodes + 4)
        for n in joiners:
            cluster.start_chainfire(n, bootstrap=False)
        started = time.monotonic()
        procs = {n: cluster.fba_join(n, *fba_args) for n in joiners}
        finished: dict[int, float] = {}
        codes: dict[int, int] = {}
        for n, proc in procs.items():
            try:
                codes[n] = proc.wait(600)
            except subprocess.TimeoutExpired:
                proc.kill()
                codes[n] = -9
            finished[n] = time.monotonic() - started
        ok = [n for n, rc in codes.items() if rc == 0]
        failed = {cluster.node_id(n): rc for n, rc in codes.items() if rc != 0}
        members = cluster.members(1)
        print(f"{label}: {len(ok)}/{nodes} joined, last exit after "
              f"{max(finished.values()):.1f}s, all joined: "
              f"{'yes' if not failed else 'no'}, failures {failed or 'none'}, "
              f"members {len(members)} (distinct {len(set(members))})")
    finally:
        cluster.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nodes", type=int, default=20)
    parser.add_argument("--skip-baseline", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="storm-") as tmp:
        storm(Path(tmp) / "ours", args.nodes, ["--retry-mode", "exponential",
                                               "--retry-delay", "0.2", "--max-attempts", "30"],
              "fba exponential (0.2 s doubling, 30 attempts)")
        if not args.skip_baseline:
            storm(Path(tmp) / "baseline", args.nodes,
                  ["--retry-mode", "fixed", "--retry-delay", "10", "--max-attempts", "5",
                   "--deadline", "300"], "design baseline (fixed 10 s x 5)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
