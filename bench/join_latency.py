"""Join latency: time from "the local service becomes healthy" to "the join marker is written".

Ours: `fba join --service chainfire` with its default policies (jittered health backoff from
0.1 s, Retry-After honoured on 503, busy waits not counted as attempts). Baseline: the
design's bash loops ("Health Check Retry": curl every 5 s; "Cluster Join Retry": POST, 10 s
between attempts, 5 attempts, no jitter) ported faithfully to Python with urllib, writing the
marker as the design's manual procedure does (`date -Iseconds > marker`).

Each trial starts a fake local service that turns healthy after a random delay in
[0.3, 3] s and a fake leader that answers the first member-add requests with 503 +
Retry-After: 1 for a random short time (0.2-1 s from the first add). The join starts at the
same moment as the service, as systemd would start both. Trials of ours run one after the
other; the baseline trials (which mostly sleep) run in parallel threads meanwhile, so a
default run takes about 20 s. Prints per-trial numbers, the medians and their ratio;
asserts nothing.

    .venv/bin/python bench/join_latency.py [--runs 5] [--seed N]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
FBA = Path(sys.executable).with_name("fba")
NODE_ID = "node04"
RAFT_ADDR = "127.0.0.1:2380"
MARKER = ".chainfire-joined"


def _fakes() -> ModuleType:
    # The loopback fakes live with the integration tests; load them by path.
    path = ROOT / "tests" / "integration" / "automation" / "fakes.py"
    spec = importlib.util.spec_from_file_location("fba_fakes", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


fakes = _fakes()


@dataclass(frozen=True)
class Trial:
    healthy_after_s: float
    busy_s: float


@dataclass(frozen=True)
class Outcome:
    latency_s: float | None  # None: no marker
    detail: str


class Scene:
    """One trial's fakes: the local service (healthy after a delay) and a busy leader."""

    def __init__(self, trial: Trial) -> None:
        self.cluster = fakes.Cluster(busy_for_s=trial.busy_s, retry_after="1")
        self.local = fakes.FakeServer("local", healthy=False)
        self.leader = fakes.FakeServer("leader", cluster=self.cluster)
        self.trial = trial
        self.healthy_at = 0.0

    def start_service(self) -> None:
        self.local.healthy_after(self.trial.healthy_after_s)
        self.healthy_at = self.local.healthy_at

    def close(self) -> None:
        self.local.close()
        self.leader.close()


def _wait_for_file(path: Path, budget_s: float) -> float | None:
    """The monotonic time `path` appeared (polled every 5 ms), or None within the budget."""
    for _ in range(int(budget_s / 0.005) + 1):
        if path.exists():
            return time.monotonic()
        time.sleep(0.005)
    return None


# ---------------------------------------------------------------------------------------------
# Ours


def run_ours(trial: Trial, workdir: Path) -> Outcome:
    scene = Scene(trial)
    try:
        config = {
            "node_id": NODE_ID,
            "node_role": "worker",
            "bootstrap": False,
            "cluster_name": "bench",
            "leader_url": scene.leader.url,
            "raft_addr": RAFT_ADDR,
            "services": {"chainfire": {"api_port": scene.local.port, "leader_url": scene.leader.url}},
        }
        config_path = workdir / "cluster-config.json"
        config_path.write_text(json.dumps(config))
        config_path.chmod(0o600)
        state = workdir / "state"
        argv = [str(FBA), "--config", str(config_path), "--state-dir", str(state), "join", "--service", "chainfire"]
        scene.start_service()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            seen = _wait_for_file(state / MARKER, budget_s=60)
            rc = proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        adds = len(scene.leader.requests_to("POST", "/admin/member/add"))
        detail = f"rc={rc} adds={adds}"
        return Outcome(None if seen is None else seen - scene.healthy_at, detail)
    finally:
        scene.close()


# ---------------------------------------------------------------------------------------------
# Baseline: the design's bash loops, line by line


def _curl(method: str, url: str, data: bytes | None = None) -> int:
    """`curl -s -o /dev/null -w "%{http_code}"`: the status, or 0 ("000") without an answer."""
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/x-www-form-urlencoded")  # what `curl -d` sends
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as err:
        return int(err.code)
    except OSError:
        return 0


def baseline_health(url: str, timeout_s: int = 120, interval_s: float = 5.0) -> bool:
    start = int(time.time())  # START_TIME=$(date +%s)
    for _ in range(int(timeout_s / interval_s) + 2):  # the design's `while true`, bounded
        elapsed = int(time.time()) - start
        if elapsed >= timeout_s:
            return False  # exit 1 # Timeout
        if _curl("GET", url) == 200:
            return True  # exit 0 # Success
        time.sleep(interval_s)
    return False


def baseline_join(leader_url: str, payload: bytes, max_attempts: int = 5, retry_delay_s: float = 10.0) -> int:
    for _attempt in range(1, max_attempts + 1):
        code = _curl("POST", f"{leader_url}/admin/member/add", payload)
        if code in (200, 201):
            return 0  # Success
        if code == 409:
            return 2  # Already member
        time.sleep(retry_delay_s)
    return 1  # Max attempts exhausted


def run_baseline(trial: Trial, workdir: Path) -> Outcome:
    scene = Scene(trial)
    try:
        state = workdir / "state"
        state.mkdir(mode=0o700)
        scene.start_service()
        if not baseline_health(f"{scene.local.url}/health"):
            return Outcome(None, "health timeout")
        payload = json.dumps({"id": NODE_ID, "raft_addr": RAFT_ADDR}).encode()
        rc = baseline_join(scene.leader.url, payload)
        if rc == 0:
            # mkdir -p /var/lib/first-boot-automation; date -Iseconds > .../.chainfire-joined
            (state / MARKER).write_text(datetime.now(UTC).astimezone().isoformat(timespec="seconds") + "\n")
        done = time.monotonic()
        adds = len(scene.leader.requests_to("POST", "/admin/member/add"))
        return Outcome(done - scene.healthy_at if rc == 0 else None, f"rc={rc} adds={adds}")
    finally:
        scene.close()


# ---------------------------------------------------------------------------------------------


def _fmt(value: float | None) -> str:
    return "   -   " if value is None else f"{value:7.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--healthy-min", type=float, default=0.3)
    parser.add_argument("--healthy-max", type=float, default=3.0)
    parser.add_argument("--busy-min", type=float, default=0.2)
    parser.add_argument("--busy-max", type=float, default=1.0)
    args = parser.parse_args()
    if not FBA.exists():
        raise SystemExit(f"{FBA} not found: run with the project venv's python")
    rng = random.Random(args.seed)
    trials = [
        Trial(rng.uniform(args.healthy_min, args.healthy_max), rng.uniform(args.busy_min, args.busy_max))
        for _ in range(args.runs)
    ]
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="fba-join-latency-") as tmp:
        root = Path(tmp)
        baseline: list[Outcome | None] = [None] * len(trials)

        def base(i: int) -> None:
            workdir = root / f"baseline-{i}"
            workdir.mkdir()
            baseline[i] = run_baseline(trials[i], workdir)

        threads = [threading.Thread(target=base, args=(i,), daemon=True) for i in range(len(trials))]
        for thread in threads:
            thread.start()
        ours: list[Outcome] = []
        for i, trial in enumerate(trials):
            workdir = root / f"ours-{i}"
            workdir.mkdir()
            ours.append(run_ours(trial, workdir))
        for thread in threads:
            thread.join(timeout=180)

    print("join latency: local service healthy -> join marker written (seconds)")
    print(f"{'run':>3}  {'healthy@':>8}  {'busy':>5}  {'ours':>7}  {'design':>7}  ours / design detail")
    for i, trial in enumerate(trials):
        b = baseline[i]
        print(
            f"{i + 1:>3}  {trial.healthy_after_s:8.2f}  {trial.busy_s:5.2f}  {_fmt(ours[i].latency_s)}  "
            f"{_fmt(b.latency_s if b else None)}  {ours[i].detail} / {b.detail if b else 'did not finish'}"
        )
    ours_ok = [o.latency_s for o in ours if o.latency_s is not None]
    base_ok = [b.latency_s for b in baseline if b is not None and b.latency_s is not None]
    ours_median = statistics.median(ours_ok) if ours_ok else None
    base_median = statistics.median(base_ok) if base_ok else None
    print(f"median ours:   {_fmt(ours_median)} s  ({len(ours_ok)}/{len(trials)} joined)")
    print(f"median design: {_fmt(base_median)} s  ({len(base_ok)}/{len(trials)} joined)")
    if ours_median and base_median:
        print(f"ratio design/ours: {base_median / ours_median:.1f}x")
    print(f"wall time: {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()
