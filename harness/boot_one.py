"""Boot ONE node by hand, as `cluster-test` would, with its serial console on this terminal.

For a person reproducing a failure: the same netboot image, the same generated config, TLS
material and `/var/lib` disk layout as a `cluster-test` run, but only the named node runs, in
its own network namespace (the other nodes' taps exist; nothing answers there).

    python -m harness.boot_one node02               # console here; Ctrl-] ends it
    python -m harness.boot_one node01 --nodes 1     # a one-node cluster: it can form alone
    python -m harness.boot_one node02 --check       # no console: `hostname` over SSH, then end

`vms/node0N/run.sh` call this. While it runs, another terminal reaches the node with
`cluster-test --report DIR ssh node02` (DIR is printed; `attach.json` is written there).
Whatever way it ends (Ctrl-], guest power-off, Ctrl-C, an error), QEMU and the namespace
are removed. Exit codes as `cluster-test`: 0 ended normally, 2 timed out (`--check`),
3 infrastructure error, 4 usage error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from harness.errors import HarnessError, InfrastructureError, WaitTimeout
from harness.machine.qemu import DEFAULT_MEMORY_MB, PREBUILT_MEMORY_MB, sizing_problem

__all__ = ["main", "run"]

DEFAULT_REPORTS = Path("reports")
ESCAPE = 0x1D  # Ctrl-]: socat's escape byte, as in telnet


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"boot_one: {message}\n")
        raise SystemExit(4)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m harness.boot_one", description=__doc__,
                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("node", help="node01, node02, ... (a bootstrap node of the cluster)")
    p.add_argument("--nodes", type=int, default=3, help="bootstrap nodes in the cluster definition (default 3)")
    p.add_argument("--report", type=Path, help="run directory (default reports/boot-one-<node>-<time>)")
    p.add_argument("--kernel", type=Path, help="prebuilt netboot kernel (e.g. from Nix)")
    p.add_argument("--initrd", type=Path, help="prebuilt netboot initrd")
    p.add_argument("--cmdline", default="", help="kernel command line of the prebuilt image")
    p.add_argument("--memory-mb", type=int, metavar="MIB",
                   help=f"guest RAM (default {DEFAULT_MEMORY_MB} for the Debian image, "
                        f"{PREBUILT_MEMORY_MB} with --kernel/--initrd)")
    p.add_argument("--check", action="store_true", help="no console: `hostname` over SSH, tear down")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m harness.boot_one`; returns the exit code."""
    try:
        args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as err:
        return int(err.code) if isinstance(err.code, int) else 4
    wanted = [f"node{i:02d}" for i in range(1, args.nodes + 1)]
    if not 1 <= args.nodes <= 9 or args.node not in wanted:
        sys.stderr.write(f"boot_one: {args.node!r} is not a node of a {args.nodes}-node cluster; "
                         f"nodes: {', '.join(wanted) or 'none (use --nodes 1-9)'}\n")  # fmt: skip
        return 4
    if (args.kernel is None) != (args.initrd is None):
        sys.stderr.write("boot_one: --kernel and --initrd go together\n")
        return 4
    problem = sizing_problem(args.memory_mb)
    if problem:
        sys.stderr.write(f"boot_one: {problem}\n")
        return 4
    if not args.check and shutil.which("socat") is None:
        sys.stderr.write("boot_one: socat is not installed (apt-get install socat); or use --check\n")
        return 3
    try:
        return run(args)
    except KeyboardInterrupt:
        sys.stderr.write("boot_one: interrupted; the node and its namespace were removed\n")
        return 130
    except InfrastructureError as err:
        sys.stderr.write(f"boot_one: infrastructure error: {err}\n")
        return 3
    except WaitTimeout as err:
        sys.stderr.write(f"boot_one: timeout: {err}\n")
        return 2
    except HarnessError as err:
        sys.stderr.write(f"boot_one: {err}\n")
        return 3


def run(args: argparse.Namespace) -> int:
    """Boot `args.node` alone; console on the terminal (or `--check`); always tear down."""
    from harness.cluster.cluster import Cluster, ClusterOptions, PrebuiltImage
    from harness.cluster.topology import Topology

    report: Path = args.report or DEFAULT_REPORTS / time.strftime(f"boot-one-{args.node}-%Y%m%d-%H%M%S")
    image = PrebuiltImage(args.kernel, args.initrd, args.cmdline) if args.kernel else None
    options = ClusterOptions(run_dir=report, topology=Topology(bootstrap_nodes=args.nodes), image=image,
                             memory_mb=args.memory_mb, deadline=time.monotonic() + 24 * 3600)  # fmt: skip
    cluster = Cluster(options)
    try:
        cluster.up()
        node = cluster[args.node]
        if cluster.accel is not None:
            print(cluster.accel.headline, flush=True)
        node.start()
        attach = node.attach_commands()
        cluster.write_attach()
        # One write, so a reader of the terminal never sees the namespace without the hints.
        print(f"{args.node}: QEMU pid {node.pid} in namespace {cluster.fabric.name if cluster.fabric else '?'}\n"
              f"  ssh (another terminal): cluster-test --report {report} ssh {args.node}\n"
              f"                      or: {attach.get('ssh', '-')}\n"
              f"  console log: {attach['console']}", flush=True)  # fmt: skip
        if args.check:
            # SSH, not the READY line: alone, a node of a bigger cluster never finishes
            # starting (its join waits for a quorum), yet it is up and reachable.
            hostname = node.succeed("hostname", timeout=cluster.boot_budget()).strip()
            print(f"{args.node}: hostname over SSH: {hostname}", flush=True)
            return 0
        print("  console below; Ctrl-] ends it (the node is powered off and removed)\n", flush=True)
        return _console(attach["serial"].split())
    finally:
        cluster.down()
        print(f"{args.node}: stopped; namespace removed; logs in {report}", flush=True)


def _console(serial: list[str]) -> int:
    """Hand the terminal to socat on the serial socket until Ctrl-] or the guest's power-off."""
    # `socat -,raw,echo=0 UNIX-CONNECT:...` from attach_commands, plus the escape byte.
    argv = [serial[0], f"{serial[1]},escape={ESCAPE:#x}", *serial[2:]]
    done = subprocess.run(argv, check=False)
    if done.returncode not in (0, 130):
        raise InfrastructureError(f"console: {' '.join(argv)} exited {done.returncode}; the QEMU log is next to "
                                  "console.log")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
