"""`fba` start-up cost: how long a command takes from exec to exit, beside a bare Python start.

Every unit start, every automatic restart and every `fba status` pays Python's start and the
imports of the command; a TCG guest pays it many times over. Measured, each as the median (and
minimum) of N runs, one after the other:

- `python -c pass` (the floor: the interpreter and `site` alone),
- `fba --help` (parser only),
- `fba config validate` on a valid config (the config model: pydantic),
- the same with pydantic's plugin scan on (`PYDANTIC_DISABLE_PLUGINS=` empty; `fba` turns the
  scan off by default), the alternative side by side,
- `fba status` on an empty state dir (markers, `systemctl show`).

`--importtime` also prints, for each command, the slowest top-level imports from
`python -X importtime`. `--guest-script` prints a POSIX shell script that measures the same
inside a node (run it there; it needs only `date +%s%N` and `fba` on PATH). `--guest` boots
ONE node (a 1-node cluster, as `python -m harness.boot_one node01 --nodes 1`), waits until its
first boot is done (so the units do not compete), runs that script over SSH and tears the node
down (minutes under TCG; take the VM lock as for every VM run). Prints numbers; asserts nothing.

    .venv/bin/python bench/fba_startup.py [--runs 21] [--importtime] [--guest-script]
    sudo flock /tmp/fba-vm.lock .venv/bin/python bench/fba_startup.py --guest [--runs 11]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

FBA = Path(sys.executable).with_name("fba")
CONFIG = {
    "node_id": "node01",
    "node_role": "control-plane",
    "bootstrap": True,
    "cluster_name": "bench",
    "leader_url": "http://127.0.0.1:2379",
    "raft_addr": "127.0.0.1:2380",
    "initial_peers": ["node01=127.0.0.1:2380"],
}
RUN_TIMEOUT_S = 60.0


# Environment variables a row sets on top of the common environment.
EXTRA_ENV = {"validate, plugin scan on": {"PYDANTIC_DISABLE_PLUGINS": ""}}


def commands(work: Path) -> dict[str, list[str]]:
    config, state = work / "cluster-config.json", work / "state"
    validate = [str(FBA), "config", "validate", "--config", str(config)]
    return {
        "python -c pass": [sys.executable, "-c", "pass"],
        "fba --help": [str(FBA), "--help"],
        "fba config validate": validate,
        "validate, plugin scan on": validate,
        "fba status": [str(FBA), "status", "--state-dir", str(state)],
    }


def prepare(work: Path) -> None:
    config = work / "cluster-config.json"
    config.write_text(json.dumps(CONFIG), encoding="utf-8")
    config.chmod(0o600)
    (work / "state").mkdir(mode=0o700)


def once(argv: list[str], env: dict[str, str]) -> float:
    """Seconds from exec to exit of one run.

    The wait blocks in waitpid: `subprocess.run(timeout=...)` polls for the exit with sleeps of
    1, 2, 4, ... 32 ms, then every 50 ms, which rounded every figure up to those steps (31.5,
    63.5, 113.5, 163.5 ms: the earlier tables sat on them). A watchdog kills a run that hangs.
    """
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    watchdog = threading.Timer(RUN_TIMEOUT_S, proc.kill)
    watchdog.start()
    try:
        proc.wait()
    finally:
        watchdog.cancel()
    return time.perf_counter() - start


def importtime(argv: list[str], env: dict[str, str], top: int) -> list[tuple[int, str]]:
    """The `top` slowest imports by cumulative time (microseconds), any depth."""
    python_argv = [sys.executable, "-X", "importtime", *argv[1:]] if argv[0] == sys.executable else None
    if python_argv is None:
        python_argv = [sys.executable, "-X", "importtime", "-c", "import sys; from automation.cli import main; main()"]
        python_argv += argv[1:]
    done = subprocess.run(python_argv, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    rows = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line.split("|", 2)
        if cumulative.strip().isdigit():
            rows.append((int(cumulative), name.rstrip()))
    return sorted(rows, reverse=True)[:top]


GUEST_SCRIPT = r"""#!/bin/sh
# fba start-up inside a node: median of N runs of each command (needs date +%s%N).
N=${1:-11}
w=$(mktemp -d); mkdir -m 700 "$w/state"
cat > "$w/c.json" <<'EOF'
CONFIG_JSON
EOF
chmod 600 "$w/c.json"
py=$(sed -n '1s/^#!//p' "$(command -v fba)")
med() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for cmd in "$py -c pass" "fba --help" "fba config validate --config $w/c.json" "fba status --state-dir $w/state"; do
  i=0; : > "$w/t"
  while [ $i -lt "$N" ]; do
    s=$(date +%s%N); $cmd >/dev/null 2>&1; e=$(date +%s%N)
    echo $(( (e - s) / 1000000 )) >> "$w/t"; i=$((i + 1))
  done
  echo "$(med < "$w/t") ms  $cmd"
done
rm -rf "$w"
"""


def guest(runs: int) -> None:
    """Boot node01 alone, run GUEST_SCRIPT there, print its lines; always tear down."""
    import shlex

    from harness.cluster.cluster import Cluster, ClusterOptions
    from harness.cluster.topology import Topology

    report = Path("reports") / time.strftime("fba-startup-guest-%Y%m%d-%H%M%S")
    options = ClusterOptions(
        run_dir=report, topology=Topology(bootstrap_nodes=1), deadline=time.monotonic() + GUEST_BUDGET_S
    )
    cluster = Cluster(options)
    started = time.monotonic()
    try:
        cluster.up()
        node = cluster["node01"]
        if cluster.accel is not None:
            print(cluster.accel.headline, flush=True)
        node.start()
        # `|| true`, not `; true`: commands run under the driver's `set -e`. Any end of first boot
        # will do here (done or failed): the point is that the units no longer compete.
        node.succeed("fba status --wait --timeout 900 >/dev/null || true", timeout=1000)
        rc, state = node.execute("fba status", timeout=120)
        print(f"node01: first boot over after {time.monotonic() - started:.0f} s (fba status exit {rc}):", flush=True)
        print(state, end="", flush=True)
        print("measuring", flush=True)
        script = GUEST_SCRIPT.replace("CONFIG_JSON", json.dumps(CONFIG))
        print(node.succeed(f"sh -c {shlex.quote(script)} fba-startup {runs}", timeout=1200), end="", flush=True)
    finally:
        cluster.down()
        print(f"node01: stopped after {time.monotonic() - started:.0f} s; logs in {report}", flush=True)


GUEST_BUDGET_S = 3600.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--importtime", action="store_true", help="also the slowest imports per command")
    parser.add_argument("--guest-script", action="store_true", help="print the in-guest script and exit")
    parser.add_argument("--guest", action="store_true", help="boot one node and measure inside it")
    args = parser.parse_args()
    if args.guest:
        guest(args.runs)
        return
    if args.guest_script:
        sys.stdout.write(GUEST_SCRIPT.replace("CONFIG_JSON", json.dumps(CONFIG)))
        return
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FBA_", "PYTHON"))}
    with tempfile.TemporaryDirectory(prefix="fba-startup-") as tmp:
        work = Path(tmp)
        prepare(work)
        table = commands(work)
        envs = {name: {**env, **EXTRA_ENV.get(name, {})} for name in table}
        for name, argv in table.items():  # warm the page cache and the pyc files once
            once(argv, envs[name])
        times: dict[str, list[float]] = {name: [] for name in table}
        for _ in range(args.runs):  # interleaved, so a burst of host load hits every command alike
            for name, argv in table.items():
                times[name].append(once(argv, envs[name]))
        floor = statistics.median(times["python -c pass"])
        print(
            f"{'command':<24} {'median':>9} {'min':>9} {'x python':>9}   ({args.runs} runs, {sys.version.split()[0]})"
        )
        for name, samples in times.items():
            median = statistics.median(samples)
            print(f"{name:<24} {median * 1000:7.1f}ms {min(samples) * 1000:7.1f}ms {median / floor:8.2f}x")
        if args.importtime:
            for name, argv in table.items():
                if name == "python -c pass":
                    continue
                print(f"\nslowest imports of `{name}` (cumulative, ms):")
                for micros, module in importtime(argv, envs[name], 8):
                    print(f"  {micros / 1000:7.1f}  {module}")


if __name__ == "__main__":
    main()
