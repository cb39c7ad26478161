"""`cluster-test --require-kvm` on a host whose KVM guest stays silent: exit 3 within 5 s
(the `--require-kvm` help text), one stderr line that says why, nothing booted.

The integration test of the same promise needs a host where KVM is broken and skips where it
works; this one stands in the accelerator: the real `probe_kvm`, given a fake QEMU that never
prints the kernel banner and ignores SIGTERM (the worst case of the probe's kill grace) and a
stand-in for /dev/kvm. So the failure path runs, with its real timing, on every host.
"""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

from harness import cli
from harness.machine import accel

STATED_LIMIT_S = 5.0  # `--require-kvm`: "fail (within 5 s) if KVM does not work"


def silent_qemu(tmp_path: Path) -> tuple[Path, Path]:
    """A `qemu-system-x86_64` that accepts any argv, says nothing on serial, ignores SIGTERM
    (an ignored signal stays ignored across exec) and records its pid."""
    pid_file = tmp_path / "qemu.pid"
    script = tmp_path / "qemu-system-x86_64"
    script.write_text(f"#!/bin/sh\necho $$ > {pid_file}\ntrap '' TERM\nexec sleep 60\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script, pid_file


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


def run_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str, float]:
    kernel, initrd, script = tmp_path / "vmlinuz", tmp_path / "initrd", tmp_path / "nothing.py"
    for path in (kernel, initrd, script):
        path.write_text("")
    argv = ["--require-kvm", "--script", str(script), "--nodes", "1", "--report", str(tmp_path / "run"),
            "--kernel", str(kernel), "--initrd", str(initrd)]  # fmt: skip
    begin = time.monotonic()
    rc = cli.run(argv)
    took = time.monotonic() - begin
    out, err = capsys.readouterr()
    return rc, out, err, took


@pytest.fixture
def no_boot(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[object]:
    """A fresh HOME (no cached probe answer) and a `driver_run` that only records a call."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    booted: list[object] = []
    monkeypatch.setattr(cli, "driver_run", lambda *args: booted.append(args) or 0)
    return booted


def test_require_kvm_with_a_silent_guest_exits_3_within_5_s_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], no_boot: list[object]
) -> None:
    silent, pid_file = silent_qemu(tmp_path)
    device = tmp_path / "kvm"
    device.write_text("")  # exists, readable and writable: the probe gets as far as booting
    probes: list[Path] = []
    real_probe = accel.probe_kvm

    def probe(kernel: Path, *, qemu: str = "unused") -> tuple[bool, str, float]:
        probes.append(kernel)
        return real_probe(kernel, qemu=str(silent), device=device)

    monkeypatch.setattr(accel, "probe_kvm", probe)
    rc, out, err, took = run_cli(tmp_path, capsys)

    assert rc == cli.Exit.INFRASTRUCTURE == 3, err
    assert took < STATED_LIMIT_S, f"--require-kvm took {took:.1f} s to fail"
    assert took >= accel.PROBE_DEADLINE  # the probe really waited for the banner
    [line] = err.splitlines()
    assert line.startswith(
        f"cluster-test: infrastructure error: KVM required but unusable: guest silent for "
        f"{accel.PROBE_DEADLINE:g} s under -accel kvm"
    ), line
    assert "drop --require-kvm to use TCG" in line
    assert out == ""  # not even the ACCEL headline: the run stopped before it
    assert probes == [tmp_path / "vmlinuz"]
    assert no_boot == []
    assert not alive(int(pid_file.read_text())), "the probe left its QEMU running"


def test_require_kvm_fails_at_once_from_a_cached_tcg_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], no_boot: list[object]
) -> None:
    """The answer is cached per host boot: the second run fails the same way without probing."""
    calls: list[Path] = []

    def silent(kernel: Path, *, qemu: str = "unused") -> tuple[bool, str, float]:
        calls.append(kernel)
        return False, f"guest silent for {accel.PROBE_DEADLINE:g} s under -accel kvm (serial: '')", 3.0

    monkeypatch.setattr(accel, "probe_kvm", silent)
    first = run_cli(tmp_path, capsys)
    second = run_cli(tmp_path, capsys)
    assert [first[0], second[0]] == [cli.Exit.INFRASTRUCTURE] * 2
    assert first[2] == second[2] and "KVM required but unusable: guest silent" in second[2]
    assert len(calls) == 1
    assert second[3] < 1.0  # no probe: the cache answers
    assert no_boot == []
    assert os.listdir(tmp_path / "home" / ".cache" / "fba")  # the cache the second run read
