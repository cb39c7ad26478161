"""`cluster-test`: boot node01-03 from the netboot image in QEMU and check what the design promises.

    cluster-test                        run every scenario (pytest under the hood)
    cluster-test -k markers --keep-on-failure
    cluster-test --list
    cluster-test --replay schedule.json  a fault schedule (from a failing property test) on VMs
    cluster-test --script test.py       a NixOS test-driver script, unchanged
    cluster-test --interactive          a Python prompt with the nodes and driver globals
    cluster-test --script t.py --save-snapshot snaps/formed   then save the cluster (if t.py passed)
    cluster-test --script t.py --from snaps/formed            restore that cluster instead of booting
    cluster-test ssh node02 [-- CMD]    reach a node of a kept cluster
    cluster-test boot node02 [--check]  boot one node by hand, its console on this terminal
    cluster-test down                   tear a kept cluster down

The first line of every run says which accelerator is used, KVM or TCG (and why).
Exit codes: 0 passed, 1 a check failed, 2 a wait timed out, 3 infrastructure error (QEMU,
namespaces, image build), 4 usage error or nothing selected (also: a --script that uses a
driver verb this harness lacks, e.g. screenshot, or imports test_driver, or a --from snapshot
made for another image or topology), 130 interrupted
(SIGINT or SIGTERM: everything started is torn down, and junit.xml and summary.txt still say
what ran, what was running - interrupted - and, for scenarios, what never started - not run).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from harness.errors import (
    CheckFailed,
    HarnessError,
    InfrastructureError,
    Interrupted,
    UnsupportedVerb,
    UsageError,
    WaitTimeout,
    interrupt_signal,
)
from harness.machine.process import die_with_parent
from harness.machine.qemu import DEFAULT_MEMORY_MB, PREBUILT_MEMORY_MB, sizing_problem
from harness.machine.reaper import interrupt_on_signals

if TYPE_CHECKING:
    from harness.cluster.cluster import Cluster
    from harness.progress import Mode, Reporter

DEFAULT_REPORTS = Path("reports")
MAX_TIMEOUT_S = 7 * 24 * 3600.0
"""Seconds: the longest run deadline taken (a week; pytest's timer overflows near 1e9 s)."""

# Seconds. The default suite under TCG fits with margin; CI stops a job at 90 min in all, so a
# run too slow to finish ends with its report (exit 2) rather than being killed.
DEFAULT_RUN_TIMEOUT = 3000.0
# Seconds the scenario run gets to tear its VMs down and write junit.xml once it was told to
# stop (interrupt, deadline); then its process group is killed.
STOP_GRACE = 60.0
SCENARIOS = "harness.scenarios"
"""What `cluster-test` runs (pytest --pyargs). `FBA_SCENARIOS` names another package or
directory instead: the integration tests point it at tiny fake scenarios that boot nothing."""


class Exit(IntEnum):
    PASSED = 0
    FAILED = 1
    TIMEOUT = 2
    INFRASTRUCTURE = 3
    USAGE = 4
    INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"cluster-test: {message}\n")
        raise SystemExit(Exit.USAGE)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="cluster-test", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", nargs="?", default="run", choices=["run", "ssh", "down", "boot"])
    p.add_argument("node", nargs="?", help="for `ssh` and `boot`: the node name")
    p.add_argument("--report", type=Path, help="report directory (default reports/cluster-test-<time>)")
    p.add_argument("-k", dest="keyword", help="only scenarios matching this pytest expression")
    p.add_argument("--list", action="store_true", help="list the scenarios and exit")
    p.add_argument("--keep", action="store_true", help="leave the cluster up afterwards")
    p.add_argument("--keep-on-failure", action="store_true", help="leave the cluster up when a check fails")
    p.add_argument("--require-kvm", action="store_true", help="fail (within 5 s) if KVM does not work")
    p.add_argument("--tcg-factor", type=float,
                   help="budget factor under TCG (default: measured from the first node's network-online time)")
    p.add_argument("--kernel", type=Path, help="prebuilt netboot kernel (e.g. from Nix)")
    p.add_argument("--initrd", type=Path, help="prebuilt netboot initrd")
    p.add_argument("--cmdline", default="", help="kernel command line of the prebuilt image")
    p.add_argument("--pxe", action="store_true", help="boot through iPXE instead of direct kernel boot")
    p.add_argument("--memory-mb", type=int, metavar="MIB",
                   help=f"guest RAM per node (default {DEFAULT_MEMORY_MB} for the Debian image, "
                        f"{PREBUILT_MEMORY_MB} with --kernel/--initrd)")
    p.add_argument("--tb-size", type=int, metavar="MIB", dest="tb_size_mb",
                   help="TCG translation cache per node (default 64; 128 boots ~14%% faster for 64 MiB more RSS)")
    p.add_argument("--workers", type=int, default=1, help="pytest-xdist workers for scenarios")
    p.add_argument("--timeout", type=float, default=DEFAULT_RUN_TIMEOUT, help="whole-run deadline, seconds")
    p.add_argument("--replay", type=Path, help="replay a fault schedule file (JSON/TOML) on a fresh cluster")
    p.add_argument("--seed", type=int, help="with --replay: override the schedule's seed")
    p.add_argument("--script", type=Path, help="run a NixOS test-driver script against the nodes")
    p.add_argument("--nodes", type=int, default=3, help="bootstrap nodes for --script/--interactive")
    p.add_argument("--interactive", action="store_true", help="boot, then a Python prompt with the nodes")
    p.add_argument("--from", dest="restore_from", type=Path, metavar="SNAPSHOT",
                   help="--script/--interactive: restore this cluster snapshot instead of booting "
                        "(start_all() then returns at once; made with --save-snapshot)")
    p.add_argument("--save-snapshot", type=Path, metavar="DIR",
                   help="--script/--interactive: once it passed, save the cluster as a snapshot in DIR "
                        "(for --from; replaces an older snapshot there)")
    p.add_argument("--progress", choices=_progress_modes(), default="auto",
                   help="per-node boot progress: live table on a terminal, one line per change "
                        "otherwise (auto), or live/lines/off")  # fmt: skip
    p.epilog = "Arguments after `--` go to pytest (run) or are the remote command (ssh)."
    return p


def _progress_modes() -> list[str]:
    from harness.progress import Mode

    return [m.value for m in Mode]


def main(argv: Sequence[str] | None = None) -> NoReturn:
    sys.exit(run(list(sys.argv[1:] if argv is None else argv)))


def run(argv: list[str]) -> int:
    if argv[:1] == ["boot"]:
        # One node by hand, console on the terminal (the same as vms/nodeNN/run.sh).
        from harness import boot_one

        return boot_one.main(argv[1:])
    # Everything after `--` is passed through untouched; options may come before it in any order.
    rest: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, rest = argv[:cut], argv[cut + 1 :]
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as err:
        return int(err.code) if isinstance(err.code, int) else Exit.USAGE
    problem = _usage_problem(args)
    if problem:
        sys.stderr.write(f"cluster-test: {problem}\n")
        return Exit.USAGE
    # SIGTERM (CI cancelling a job) must end the run the way Ctrl-C does, with its reports; by
    # default it would kill the process before anything is written.
    interrupt_on_signals()
    try:
        if args.command == "ssh":
            return ssh(args, rest)
        if args.command == "down":
            return down(args)
        if args.list:
            return _pytest(args, ["--collect-only", "-q", *rest], report=None)
        if args.keyword and not (args.script or args.interactive or args.replay):
            _require_selection(args)
        report = args.report or DEFAULT_REPORTS / time.strftime("cluster-test-%Y%m%d-%H%M%S")
        try:
            report.mkdir(parents=True, exist_ok=True)
        except OSError as err:  # a file in the way, a read-only place: the argument must change
            raise UsageError(f"--report {report}: cannot make the report directory: {err.strerror}") from err
        _latest(report)
        headline = _accel_headline(args)
        print(headline, flush=True)
        (report / "summary.txt").write_text(headline + "\n")
        if args.script or args.interactive:
            return driver_run(args, report, headline)
        return _pytest(args, rest, report=report, headline=headline)
    except KeyboardInterrupt as err:  # Ctrl-C, or `Interrupted` from SIGTERM
        sys.stderr.write(f"cluster-test: interrupted by {interrupt_signal(err)}; everything started was torn down\n")
        return Exit.INTERRUPTED
    except InfrastructureError as err:
        sys.stderr.write(f"cluster-test: infrastructure error: {err}\n")
        return Exit.INFRASTRUCTURE
    except WaitTimeout as err:
        sys.stderr.write(f"cluster-test: timeout: {err}\n")
        return Exit.TIMEOUT
    except (CheckFailed, AssertionError) as err:
        sys.stderr.write(f"cluster-test: check failed: {err}\n")
        return Exit.FAILED
    except UnsupportedVerb as err:
        # The script asked for something this harness does not do: a usage error, one line.
        first = (str(err).splitlines() or [""])[0]
        sys.stderr.write(f"cluster-test: unsupported: {first}\n")
        return Exit.USAGE
    except UsageError as err:
        sys.stderr.write(f"cluster-test: {err}\n")
        return Exit.USAGE
    except HarnessError as err:
        sys.stderr.write(f"cluster-test: {err}\n")
        return Exit.INFRASTRUCTURE


def exit_code(err: BaseException) -> Exit:
    """The exit code an error that ended a run means (see the module doc)."""
    if isinstance(err, KeyboardInterrupt):
        return Exit.INTERRUPTED
    if isinstance(err, WaitTimeout):
        return Exit.TIMEOUT
    if isinstance(err, (CheckFailed, AssertionError)):
        return Exit.FAILED
    if isinstance(err, UsageError):
        return Exit.USAGE
    if isinstance(err, HarnessError):
        return Exit.INFRASTRUCTURE
    return Exit.FAILED  # anything else escapes run() with a traceback: Python exits 1


def _usage_problem(args: argparse.Namespace) -> str | None:
    """Argument errors found before any slow work (KVM probe, image build, boot)."""
    if (args.kernel is None) != (args.initrd is None):
        return "--kernel and --initrd go together"
    for flag in ("kernel", "initrd", "script", "replay"):
        path = getattr(args, flag)
        if path is not None and not path.is_file():
            return f"--{flag}: no such file: {path}"
    if not 1 <= args.nodes <= 9:
        return f"--nodes: expected 1 to 9 bootstrap nodes, got {args.nodes}"
    # `not 0 < x <= MAX` rather than `x <= 0`: NaN compares false with everything, and pytest's
    # timer (setitimer) overflows past ~1e9 s (both were tracebacks with exit 1).
    if not 0 < args.timeout <= MAX_TIMEOUT_S:
        return f"--timeout: expected seconds in (0, {MAX_TIMEOUT_S:.0f}], got {args.timeout}"
    if args.workers < 1:
        return "--workers must be at least 1"
    from harness.slowness import MAX_FACTOR, MIN_FACTOR

    if args.tcg_factor is not None and args.tcg_factor != 0 and not MIN_FACTOR <= args.tcg_factor <= MAX_FACTOR:
        return (f"--tcg-factor: expected {MIN_FACTOR:.0f} to {MAX_FACTOR:.0f} (0 or none: measure it), "
                f"got {args.tcg_factor}")  # fmt: skip
    if args.command == "run" and args.node:
        return f"unexpected argument {args.node!r} (only `ssh` takes a node name)"
    if (args.restore_from or args.save_snapshot) and not (args.script or args.interactive):
        return "--from and --save-snapshot go with --script or --interactive"
    if args.restore_from is not None and not (args.restore_from / "cluster-snapshot.json").is_file():
        return f"--from: no cluster snapshot in {args.restore_from} (make one with --save-snapshot)"
    if args.script is not None:
        from harness.driver import script_problem

        problem = script_problem(args.script)
        if problem:
            return f"--script: {problem}"
    return sizing_problem(args.memory_mb, args.tb_size_mb)


def _accel_headline(args: argparse.Namespace) -> str:
    """Probe the accelerator with the host's (= the image's) kernel before any long work."""
    from harness.machine.accel import choose_accel

    kernel = args.kernel or _host_kernel()
    choice = choose_accel(kernel, require_kvm=args.require_kvm)
    return choice.headline


def _host_kernel() -> Path:
    kernels = sorted(Path("/boot").glob("vmlinuz-*"))
    if not kernels:
        raise InfrastructureError("no kernel in /boot: apt-get install linux-image-amd64 (scripts/setup.sh does)")
    return kernels[-1]


def _latest(report: Path) -> None:
    link = report.parent / "latest"
    try:
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(report.resolve())
    except OSError:
        pass


def _env(args: argparse.Namespace, report: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    if report is not None:
        env["FBA_RUN_DIR"] = str(report)
    env["FBA_KEEP"] = "always" if args.keep else "on-failure" if args.keep_on_failure else "never"
    env["FBA_RUN_DEADLINE"] = str(time.time() + args.timeout)
    if args.require_kvm:
        env["FBA_REQUIRE_KVM"] = "1"
    if args.pxe:
        env["FBA_PXE"] = "1"
    if args.tcg_factor:
        env["FBA_TCG_FACTOR"] = str(args.tcg_factor)
    if args.memory_mb:
        env["FBA_MEMORY_MB"] = str(args.memory_mb)
    if args.tb_size_mb:
        env["FBA_TB_SIZE_MB"] = str(args.tb_size_mb)
    if args.kernel:
        env.update(FBA_KERNEL=str(args.kernel), FBA_INITRD=str(args.initrd), FBA_CMDLINE=args.cmdline)
    if args.replay:
        env["FBA_REPLAY"] = str(args.replay.resolve())
        if args.seed is not None:
            env["FBA_REPLAY_SEED"] = str(args.seed)
    return env


def _pytest(args: argparse.Namespace, extra: list[str], *, report: Path | None, headline: str = "") -> int:
    scenarios = os.environ.get("FBA_SCENARIOS", SCENARIOS)
    argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "harness.scenarios.outcomes",
            "--pyargs", scenarios, "-rA"]  # fmt: skip
    argv += ["-o", f"timeout={int(args.timeout)}"]
    if args.replay:
        argv += ["-k", "replay"]
    elif args.keyword:
        argv += ["-k", args.keyword]
    if args.workers > 1:
        argv += ["-n", str(args.workers)]
    if report is not None:
        argv += [
            f"--junitxml={report / 'junit.xml'}",
            "-o",
            "junit_suite_name=cluster-test",
            "-o",
            "junit_duration_report=call",
        ]
    mode = _progress_mode(args, report)
    if mode.value == "live":
        argv += ["--color=yes"]  # its stdout is our pipe now; the terminal is ours
    argv += extra
    with _progress(mode, report) as reporter:
        return _pytest_child(args, argv, report=report, headline=headline, reporter=reporter)


def _require_selection(args: argparse.Namespace) -> None:
    """`-k` that selects no scenario is a usage error found by collecting (seconds), before the
    accelerator probe, the report directory and any boot; it used to be found only after them.

    Raises:
        UsageError: nothing matches (pytest's exit 5), or the expression is not one (exit 4).
    """
    scenarios = os.environ.get("FBA_SCENARIOS", SCENARIOS)
    argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--pyargs", scenarios,
            "--collect-only", "-q", "-k", args.keyword]  # fmt: skip
    try:
        done = subprocess.run(argv, env=_env(args, None), capture_output=True, text=True, timeout=120, check=False)
    except subprocess.TimeoutExpired as err:
        raise UsageError(f"-k {args.keyword!r}: collecting the scenarios took over 120 s") from err
    if done.returncode == 5:
        raise UsageError(f"-k {args.keyword!r} selects no scenario (cluster-test --list shows them)")
    if done.returncode == 4:
        said = next((line for line in done.stderr.splitlines() if "ERROR" in line), done.stderr.strip()[-200:])
        raise UsageError(f"-k {args.keyword!r}: not a pytest expression: {said}")


def _progress_mode(args: argparse.Namespace, report: Path | None) -> Mode:
    """How progress is shown: never without a report dir (`--list`) or at a Python prompt."""
    from harness.progress import Mode, choose_mode

    if report is None or args.interactive:
        return Mode.OFF
    return choose_mode(Mode(args.progress), sys.stdout)


@contextlib.contextmanager
def _progress(mode: Mode, report: Path | None, *, redirect: bool = False) -> Iterator[Reporter | None]:
    from harness.progress import Mode, Reporter, make_sink

    if mode is Mode.OFF or report is None:
        yield None
        return
    with Reporter(report, make_sink(mode, sys.stdout, redirect=redirect)) as reporter:
        yield reporter


def _pytest_child(
    args: argparse.Namespace, argv: list[str], *, report: Path | None, headline: str, reporter: Reporter | None
) -> int:
    # With progress on, the child's stdout comes through the reporter, line by line, so a
    # progress line never lands in the middle of a pytest line.
    stdout = subprocess.PIPE if reporter is not None else None
    # Its own session (a Ctrl-C reaches it once, through `forward`), and tied to this process:
    # `cluster-test` SIGKILLed (a CI job's hard timeout) sends it SIGTERM, so it still tears
    # its nodes down instead of running on with nobody to read its verdict.
    proc = subprocess.Popen(argv, env=_env(args, report), start_new_session=True, stdout=stdout,
                            preexec_fn=die_with_parent())  # fmt: skip
    if reporter is not None and proc.stdout is not None:
        reporter.relay(proc.stdout)
    stopped: list[str] = []  # the signal that stopped the run, first one only

    def forward(signum: int, _frame: object) -> None:
        # The run is in its own session: pass the signal on so it tears its VMs down and writes
        # junit.xml. It may have ended already: nothing left to tell. Only the first signal
        # stops the wait; later ones are passed on while the run finishes its teardown.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signum)
        if not stopped:
            stopped.append(signal.Signals(signum).name)
            raise Interrupted(stopped[0])

    previous = {signum: signal.signal(signum, forward) for signum in (signal.SIGINT, signal.SIGTERM)}
    timed_out = False
    try:
        try:
            rc = proc.wait(timeout=args.timeout + 120)
        except subprocess.TimeoutExpired:
            timed_out = True
            stopped.append("SIGTERM")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            rc = _wait_stopped(proc)
        except Interrupted:
            rc = _wait_stopped(proc)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if report is None:
        if stopped and not timed_out:
            raise Interrupted(stopped[0])
        return Exit.PASSED if rc == 0 else Exit.USAGE if rc in (4, 5) else Exit.FAILED
    if reporter is not None:
        reporter.finish()  # the last changes and the child's last lines before the verdict
    if timed_out:
        _verdict(rc, report, headline, stopped="SIGTERM", code=Exit.TIMEOUT)
        sys.stderr.write(f"cluster-test: the run passed its {args.timeout:.0f} s deadline and was stopped\n")
        return Exit.TIMEOUT
    code = _verdict(rc, report, headline, stopped=stopped[0] if stopped else None)
    if stopped:
        raise Interrupted(stopped[0])  # run() says so and exits 130
    return code


def _wait_stopped(proc: subprocess.Popen[bytes]) -> int:
    """Wait (`STOP_GRACE`) for a run told to stop; kill its process group if it does not."""
    try:
        return proc.wait(timeout=STOP_GRACE)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        sys.stderr.write(f"cluster-test: the run did not stop within {STOP_GRACE:.0f} s and was killed; "
                         "check for leftover QEMU processes and namespaces (cluster-test down)\n")  # fmt: skip
        return proc.wait(timeout=10)


def _verdict(rc: int, report: Path, headline: str, *, stopped: str | None = None, code: Exit | None = None) -> int:
    """Exit code of a scenario run from pytest's `rc` and outcomes.json; writes summary.txt.

    `stopped`: the signal that interrupted the run (its junit.xml then gets the interrupted and
    not-run marks, see `harness.report.junit`); `code`: the exit code when already decided.
    """
    from harness.report import junit

    outcomes: dict[str, str] = {}
    with contextlib.suppress(OSError, ValueError):  # missing, or cut short by a killed run
        outcomes = json.loads((report / "outcomes.json").read_text())
    kinds = set(outcomes.values())
    if stopped is None and "interrupted" in kinds:
        stopped = "a signal"  # sent to the pytest run itself
    if code is not None:
        pass
    elif stopped is not None:
        code = Exit.INTERRUPTED
    elif rc == 5:
        code = Exit.USAGE
    elif "infrastructure" in kinds:
        code = Exit.INFRASTRUCTURE
    elif "timeout" in kinds:
        code = Exit.TIMEOUT
    elif rc != 0 or "failed" in kinds:
        code = Exit.FAILED
    else:
        code = Exit.PASSED
    if stopped is not None:
        junit.mark_interrupted(report / "junit.xml", "cluster-test", outcomes, stopped)
    return _summary(report, headline, code, outcomes, stopped)


def _summary(report: Path, headline: str, code: Exit, outcomes: dict[str, str], stopped: str | None) -> Exit:
    """Write summary.txt (and print it): headline, result, one line per test, the report.

        ACCEL: ...
        result: interrupted (exit 130) by SIGTERM
          passed         harness/scenarios/test_bootstrap.py::test_markers
          interrupted    harness/scenarios/test_bootstrap.py::test_membership_everywhere
          not run        harness/scenarios/test_recovery.py::test_reboot
        report: ...
    """
    result = f"result: {code.name.lower()} (exit {int(code)})"
    if stopped is not None:
        result += f" by {stopped}" if code is Exit.INTERRUPTED else f", stopped by {stopped}"
    lines = [headline, result]
    lines += [f"  {kind:14} {test}" for test, kind in sorted(outcomes.items(), key=lambda kv: kv[1])]
    lines.append(f"report: {report}  (junit.xml, nodes/*/console.log, */timeline.svg, events.jsonl)")
    (report / "summary.txt").write_text("\n".join(lines) + "\n")
    print("\n".join(lines), flush=True)
    return code


def driver_run(args: argparse.Namespace, report: Path, headline: str) -> int:
    """Boot a cluster and run a driver script (or an interactive prompt) against it."""
    from harness.cluster.cluster import Cluster, ClusterOptions, PrebuiltImage
    from harness.cluster.topology import Topology

    image = PrebuiltImage(args.kernel, args.initrd, args.cmdline) if args.kernel else None
    deadline = time.monotonic() + args.timeout
    options = ClusterOptions(
        run_dir=report, topology=Topology(bootstrap_nodes=args.nodes), image=image,
        require_kvm=args.require_kvm, pxe=args.pxe, keep=args.keep, may_keep=args.keep_on_failure, deadline=deadline,
        memory_mb=args.memory_mb, tb_size_mb=args.tb_size_mb, restore_from=args.restore_from,
    )  # fmt: skip
    cluster = Cluster(options)
    began = time.monotonic()
    with _progress(_progress_mode(args, report), report, redirect=True):
        return _drive(args, report, headline, cluster, began)


def _drive(args: argparse.Namespace, report: Path, headline: str, cluster: Cluster, began: float) -> int:
    from harness.driver import Driver
    from harness.report import junit

    failed: BaseException | None = None
    driver: Driver | None = None
    try:
        cluster.up()
        driver = Driver(list(cluster), run_log=cluster.log, global_timeout=args.timeout, keep_going=True,
                        out_dir=report / "out")  # fmt: skip
        if args.interactive or cluster.restored is not None:  # restored: the script's start_all() returns at once
            cluster.start_all()
        if args.interactive:
            import code

            code.interact(banner=f"{headline}\nnodes: {', '.join(cluster.nodes)}; try node01.succeed('fba status')",
                          local=driver.test_symbols(), exitmsg="tearing down")  # fmt: skip
        else:
            driver.run_script(args.script)
        if args.save_snapshot is not None and not any(r.failure for r in driver.subtests):
            cluster.snapshot(args.save_snapshot)
    except BaseException as err:
        failed = err
    finally:
        records = driver.subtests if driver else []
        stopped = interrupt_signal(failed) if isinstance(failed, KeyboardInterrupt) else None
        error = None if failed is None or stopped else f"{type(failed).__name__}: {failed}"
        junit.write(
            report / "junit.xml",
            str(args.script or "interactive"),
            records,
            error=error,
            headline=headline,
            total=time.monotonic() - began,
            interrupted=stopped,
        )
        failing = any(r.failure for r in records)
        result = exit_code(failed) if failed is not None else Exit.FAILED if failing else Exit.PASSED
        outcomes = {r.name: "interrupted" if r.interrupted else "failed" if r.failure else "passed" for r in records}
        _summary(report, headline, result, outcomes, stopped)
        keep = args.keep or (args.keep_on_failure and (failed or failing))
        if keep:
            cluster.print_attach()
        else:
            cluster.down()
    if failed is not None:
        raise failed
    if any(r.failure for r in records):
        for r in records:
            if r.failure:
                sys.stderr.write(f"subtest failed: {r.name}: {r.failure.splitlines()[0]}\n")
        return Exit.FAILED
    return Exit.PASSED


def _kept(args: argparse.Namespace) -> tuple[Path, dict[str, dict[str, str]], dict[str, object]]:
    base = args.report or DEFAULT_REPORTS / "latest"
    for candidate in [base, *sorted(base.glob("*/"))]:
        attach = candidate / "attach.json"
        if attach.exists():
            described = (
                json.loads((candidate / "cluster.json").read_text()) if (candidate / "cluster.json").exists() else {}
            )
            return candidate, json.loads(attach.read_text()), described
    raise HarnessError(f"no kept cluster under {base}: run with --keep or --keep-on-failure first")


def ssh(args: argparse.Namespace, command: list[str]) -> int:
    _, attach, _ = _kept(args)
    if not args.node or args.node not in attach:
        sys.stderr.write(f"cluster-test ssh: name a node: {', '.join(attach)}\n")
        return Exit.USAGE
    argv = attach[args.node]["ssh"].split() + command
    return subprocess.run(argv, check=False).returncode


def down(args: argparse.Namespace) -> int:
    """Stop the QEMU processes and delete the namespace of a kept cluster.

    Through `netns.delete_netns`, the teardown every fabric uses: it waits (bounded) for the
    killed processes to die, so when `down` returns, the QEMUs no longer hold their disks and
    a new run may start at once.
    """
    from harness.network.netns import delete_netns, list_netns

    run_dir, _, described = _kept(args)
    namespace = described.get("namespace")
    removed = isinstance(namespace, str) and namespace in list_netns()
    survivors: list[int] = []
    if isinstance(namespace, str) and removed:
        survivors = delete_netns(namespace)
        if namespace in list_netns():  # attach.json stays, so `down` again retries
            raise InfrastructureError(f"namespace {namespace} is still there after `ip netns del`; "
                                      "run `cluster-test down` again")  # fmt: skip
    (run_dir / "attach.json").unlink(missing_ok=True)
    if survivors:
        # The name is gone, so nothing more `down` can do; say which processes to look at.
        pids = " ".join(map(str, survivors))
        raise InfrastructureError(f"deleted namespace {namespace}, but pids {pids} survived SIGKILL "
                                  f"(stuck in the kernel?); see `ps -o pid,stat,wchan,cmd -p {pids}`")  # fmt: skip
    if removed:
        print(f"cluster-test: removed namespace {namespace} and its processes")
    return Exit.PASSED
