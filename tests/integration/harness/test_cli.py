"""`cluster-test` as a user runs it, without booting a VM: usage errors, `--list`,
`--require-kvm` failing fast, `ssh`/`down` of a kept cluster, `--script` plumbing.

Each case runs the real entry point as a subprocess and checks exit code and stderr lines.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import IO

import pytest

from harness.network.netns import alive
from harness.waits import wait_until

CLUSTER_TEST = Path(sys.executable).parent / "cluster-test"
USAGE, INFRASTRUCTURE = 4, 3


def cluster_test(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CLUSTER_TEST), *args], capture_output=True, text=True, timeout=timeout, check=False,
                          env=env)  # fmt: skip


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def kept_run(tmp_path: Path, ssh: str, namespace: str | None = None) -> Path:
    """A run directory as `--keep` leaves it: attach.json (+ cluster.json with the namespace)."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "attach.json").write_text(json.dumps({"node01": {"ssh": ssh, "console": str(run / "c.log")}}))
    (run / "cluster.json").write_text(json.dumps({"namespace": namespace, "nodes": {"node01": {}}}))
    return run


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["frobnicate"], "argument command: invalid choice: 'frobnicate'"),
        (["--nodes", "abc"], "argument --nodes: invalid int value: 'abc'"),
        (["--kernel", "/boot/vmlinuz"], "--kernel and --initrd go together"),
        (["--memory-mb", "64"], "--memory-mb: expected 256 to 8192 MiB per node, got 64"),
        (["--tb-size", "0"], "--tb-size: expected 16 to 1024 MiB, got 0"),
    ],
)
def test_usage_errors_exit_4_with_one_line(argv: list[str], says: str) -> None:
    done = cluster_test(*argv)
    assert done.returncode == USAGE
    [line] = lines(done.stderr)
    assert line.startswith(f"cluster-test: {says}")
    assert done.stdout == ""


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["node04", "--nodes", "3"], "'node04' is not a node of a 3-node cluster"),
        (["node01", "--memory-mb", "100000"], "--memory-mb: expected 256 to 8192 MiB per node, got 100000"),
    ],
)
def test_boot_usage_errors_exit_4_with_one_line_and_boot_nothing(argv: list[str], says: str) -> None:
    done = cluster_test("boot", *argv)
    assert done.returncode == USAGE
    [line] = lines(done.stderr)
    assert line.startswith(f"boot_one: {says}")


def test_list_lists_the_scenarios_and_boots_nothing() -> None:
    done = cluster_test("--list")
    assert done.returncode == 0, done.stderr
    listed = [line for line in done.stdout.splitlines() if "::test_" in line]
    assert "harness/scenarios/test_bootstrap.py::test_markers" in listed
    assert "harness/scenarios/test_bootstrap.py::test_membership_everywhere" in listed
    assert len(listed) >= 9


def test_list_with_k_selects() -> None:
    done = cluster_test("--list", "-k", "test_bootstrap and test_markers")
    assert done.returncode == 0, done.stderr
    listed = [line for line in done.stdout.splitlines() if "::test_" in line]
    assert listed == ["harness/scenarios/test_bootstrap.py::test_markers"]


@pytest.mark.skipif(os.geteuid() != 0, reason="the KVM probe opens /dev/kvm: root")
def test_require_kvm_fails_within_5_s_and_says_why(tmp_path: Path) -> None:
    """Uncached probe (a fresh HOME): this host's /dev/kvm exists but the guest never runs."""
    script = tmp_path / "nothing.py"
    script.write_text("pass\n")  # if KVM does work, the run boots nothing and passes
    env = {**os.environ, "HOME": str(tmp_path / "home")}
    begin = time.monotonic()
    done = cluster_test("--require-kvm", "--script", str(script), "--nodes", "1", "--report",
                        str(tmp_path / "run"), env=env, timeout=30)  # fmt: skip
    took = time.monotonic() - begin
    if done.returncode == 0:
        # This case needs a host with a broken KVM; the failure path itself runs on every host
        # in tests/unit/harness/test_cli_require_kvm.py (a silent stand-in guest).
        pytest.skip("KVM works on this host")
    assert done.returncode == INFRASTRUCTURE, done.stderr
    assert took < 5.0, f"--require-kvm took {took:.1f} s to fail"
    [line] = lines(done.stderr)
    assert line.startswith("cluster-test: infrastructure error: KVM required but unusable: guest silent for 3 s")
    assert "drop --require-kvm" in line


@pytest.mark.parametrize("verb", [["ssh", "node01"], ["down"]])
def test_ssh_and_down_without_a_kept_cluster_say_so_in_one_line(tmp_path: Path, verb: list[str]) -> None:
    done = cluster_test("--report", str(tmp_path), *verb)
    assert done.returncode != 0
    assert lines(done.stderr) == [
        f"cluster-test: no kept cluster under {tmp_path}: run with --keep or --keep-on-failure first"
    ]


def test_ssh_runs_the_kept_ssh_command_with_the_given_command(tmp_path: Path) -> None:
    run = kept_run(tmp_path, ssh="echo via-ssh")
    done = cluster_test("--report", str(run), "ssh", "node01", "--", "hostname")
    assert (done.returncode, done.stdout) == (0, "via-ssh hostname\n"), done.stderr


def test_ssh_options_after_the_node_name_are_options(tmp_path: Path) -> None:
    run = kept_run(tmp_path, ssh="echo via-ssh")
    done = cluster_test("ssh", "node01", "--report", str(run), "--", "hostname")
    assert (done.returncode, done.stdout) == (0, "via-ssh hostname\n"), done.stderr


def test_ssh_to_an_unknown_node_names_the_nodes(tmp_path: Path) -> None:
    run = kept_run(tmp_path, ssh="echo via-ssh")
    done = cluster_test("--report", str(run), "ssh", "node09")
    assert done.returncode == USAGE
    assert lines(done.stderr) == ["cluster-test ssh: name a node: node01"]


@pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")
def test_down_kills_what_runs_in_the_namespace_and_deletes_it(tmp_path: Path) -> None:
    namespace = f"fba-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    subprocess.run(["ip", "netns", "add", namespace], check=True, timeout=10)
    # Two sleepers, as a kept cluster has several QEMUs: our child, and one it started in the
    # background that is nobody's child of ours once its parent dies (as QEMU is for `down`).
    sleeper = subprocess.Popen(["ip", "netns", "exec", namespace, "sh", "-c", "sleep 300 & echo $!; exec sleep 300"],
                               stdout=subprocess.PIPE, text=True)  # fmt: skip
    orphan: int | None = None
    try:
        orphan = int(_first_line(sleeper.stdout, "the background sleeper's pid"))
        run = kept_run(tmp_path, ssh="true", namespace=namespace)
        # `down` kills what `ip netns pids` lists: wait until both sleepers are listed there.
        wait_until(lambda _left: {str(sleeper.pid), str(orphan)} <= set(_netns_pids(namespace)),
                   what=f"both sleepers inside {namespace}", timeout=10)  # fmt: skip
        done = cluster_test("--report", str(run), "down")
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == f"cluster-test: removed namespace {namespace} and its processes"
        # Dead the moment `down` returns, not later: it waits for the killed processes to die.
        assert sleeper.poll() is not None, "down returned while the sleeper was still alive"
        assert not alive(orphan), "down returned while the background sleeper was still alive"
        assert sleeper.wait(timeout=10) != 0
        assert namespace not in _netns_list()
        assert not (run / "attach.json").exists()
        again = cluster_test("--report", str(run), "down")
        assert again.returncode != 0 and len(lines(again.stderr)) == 1
    finally:
        sleeper.kill()
        sleeper.wait(timeout=10)
        if orphan is not None and alive(orphan):
            os.kill(orphan, signal.SIGKILL)
        subprocess.run(["ip", "netns", "delete", namespace], capture_output=True, timeout=10, check=False)


@pytest.mark.skipif(os.geteuid() != 0, reason="a --script run creates a network namespace: root")
def test_a_script_that_boots_nothing_passes_with_junit_and_leaves_nothing(tmp_path: Path) -> None:
    """The `--script` plumbing end to end without a VM: nodes are made but never started."""
    script = tmp_path / "nothing.py"
    script.write_text("assert [m.name for m in machines] == ['node01']\nassert machine is node01\n")
    done = cluster_test("--script", str(script), "--nodes", "1", "--report", str(tmp_path / "run"), timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ACCEL: ")
    assert (tmp_path / "run" / "junit.xml").exists()
    described = json.loads((tmp_path / "run" / "cluster.json").read_text())
    # This run's namespace and anything named after it; not a diff of every namespace on the
    # host, which caught another xdist worker's namespaces made meanwhile (a flaky failure).
    left = [name for name in _netns_list() if name.startswith(described["namespace"])]
    assert left == []


@pytest.mark.skipif(os.geteuid() != 0, reason="a --script run creates a network namespace: root")
def test_a_missing_script_is_a_usage_error(tmp_path: Path) -> None:
    done = cluster_test("--script", str(tmp_path / "missing.py"), "--nodes", "1", "--report", str(tmp_path / "run"))
    assert done.returncode == USAGE
    assert len(lines(done.stderr)) == 1 and "missing.py" in done.stderr


def test_nodes_out_of_range_is_a_usage_error(tmp_path: Path) -> None:
    done = cluster_test("--script", "x.py", "--nodes", "0", "--report", str(tmp_path / "run"))
    assert done.returncode == USAGE
    assert len(lines(done.stderr)) == 1


def _netns_list() -> list[str]:
    done = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=10, check=True)
    return [line.split()[0] for line in done.stdout.splitlines() if line.strip()]


def _first_line(stream: IO[str] | None, what: str, timeout: float = 10.0) -> str:
    """The first line a child writes, within `timeout` (a bare readline could wait for ever)."""
    assert stream is not None, f"{what}: stdout is not a pipe"
    readable, _, _ = select.select([stream], [], [], timeout)
    assert readable, f"timed out after {timeout:.0f} s waiting for {what}"
    line = stream.readline()
    assert line, f"{what}: the child exited without a line"
    return line


def _netns_pids(namespace: str) -> list[str]:
    done = subprocess.run(["ip", "netns", "pids", namespace], capture_output=True, text=True, timeout=10, check=False)
    return done.stdout.split()


@pytest.mark.parametrize(
    ("line", "says"),
    [('machine.screenshot("boot")', "screenshot is not supported by this harness"),
     ("from test_driver.machine import Machine", "test_driver package is not available here")],
)  # fmt: skip
def test_script_with_an_unsupported_verb_exits_4_in_one_line_before_booting(
    tmp_path: Path, line: str, says: str
) -> None:
    script = tmp_path / "uses_gui.py"
    script.write_text(f"start_all()\n{line}\n")
    begin = time.monotonic()
    done = cluster_test("--script", str(script), "--nodes", "1", "--report", str(tmp_path / "run"))
    assert done.returncode == USAGE, done.stderr
    [err] = lines(done.stderr)
    assert err.startswith(f"cluster-test: --script: {script}:2: ") and says in err, err
    assert "Traceback" not in done.stdout + done.stderr
    assert time.monotonic() - begin < 20 and not (tmp_path / "run").exists(), "nothing was booted"
