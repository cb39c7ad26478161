"""KVM or TCG: decided by booting a probe guest, never by looking at /dev/kvm.

On some hosts /dev/kvm exists and QEMU accepts `-accel kvm`, yet the guest spins silently
(kvm_pvm: SeaBIOS runs, the kernel never prints its banner). So the probe boots the real
kernel under KVM for a few seconds and requires its banner on serial. If that fails we fall
back to TCG and say so loudly; `require_kvm=True` turns the fallback into `KvmUnavailable`
within `PROBE_DEADLINE` plus the kill grace (< 5 s).

The answer is cached per host boot (keyed by `/proc/sys/kernel/random/boot_id`, the kernel
and the QEMU binary), so a run of many tests probes once.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path

from harness.errors import KvmUnavailable
from harness.machine.process import die_with_parent, stop_process
from harness.waits import Observation, wait_until

__all__ = [
    "Accel",
    "AccelChoice",
    "KVM_DEVICE",
    "PROBE_DEADLINE",
    "choose_accel",
    "probe_kvm",
]

PROBE_DEADLINE = 3.0
"""Seconds the KVM probe guest gets to print its kernel banner (KVM does it in < 1 s)."""

"""Default factor applied to KVM time budgets under TCG (TCG boot ~22-25 s on 1 vCPU)."""

BANNER = "Linux version"
KVM_DEVICE = Path("/dev/kvm")


class Accel(StrEnum):
    KVM = "kvm"
    TCG = "tcg"


@dataclass(frozen=True)
class AccelChoice:
    """Which accelerator the run uses and why. `headline` goes on every report's first line."""

    accel: Accel
    reason: str
    probe_seconds: float
    cached: bool = False

    @property
    def headline(self) -> str:
        if self.accel is Accel.KVM:
            return "ACCEL: KVM (hardware virtualization)"
        return (
            "ACCEL: TCG (software emulation; time budgets scaled by a measured factor) "
            f"because KVM is unusable here: {self.reason}"
        )


def _probe_argv(qemu: str, kernel: Path, serial: Path) -> list[str]:
    return [
        qemu, "-nodefaults", "-display", "none", "-no-reboot", "-accel", "kvm",
        "-m", "256", "-kernel", str(kernel),
        "-append", "console=ttyS0 earlyprintk=serial,ttyS0,115200 panic=-1",
        "-serial", f"file:{serial}",
    ]  # fmt: skip


def probe_kvm(
    kernel: Path,
    *,
    qemu: str = "qemu-system-x86_64",
    deadline: float = PROBE_DEADLINE,
    device: Path = KVM_DEVICE,
) -> tuple[bool, str, float]:
    """Boot `kernel` under KVM; `(works, reason, seconds)`. Works = banner seen in time.

    `qemu` and `device` are parameters so that tests can stand in a silent guest on any host.
    Never raises for a broken KVM: that is the answer, not an error.
    """
    begin = time.monotonic()
    dev = device
    if not dev.exists():
        return False, "/dev/kvm does not exist", 0.0
    if not os.access(dev, os.R_OK | os.W_OK):
        return False, "/dev/kvm is not readable and writable by this user", 0.0
    with tempfile.TemporaryDirectory(prefix="fba-kvm-probe-") as tmp:
        serial = Path(tmp) / "serial.log"
        proc = subprocess.Popen(
            _probe_argv(qemu, kernel, serial),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=die_with_parent(),
        )
        try:

            def banner_seen(_left: float) -> Observation:
                text = serial.read_text(errors="replace") if serial.exists() else ""
                exited = proc.poll() is not None
                return Observation(ok=BANNER in text or exited, output=text)

            obs = wait_until(banner_seen, what="KVM probe kernel banner", timeout=deadline)
            if BANNER in obs.output:
                return True, "probe kernel printed its banner under KVM", time.monotonic() - begin
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            return False, f"QEMU exited rc={proc.returncode}: {err.strip()[-300:]}", 0.0
        except Exception:  # any failure here means "KVM does not work"
            seen = serial.read_text(errors="replace").strip() if serial.exists() else ""
            why = f"guest silent for {deadline:g} s under -accel kvm (serial: {seen[-80:]!r})"
            return False, why, time.monotonic() - begin
        finally:
            stop_process(proc, grace=1.0)


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "unknown-boot"


def _cache_path(cache_dir: Path, kernel: Path, qemu: str) -> Path:
    key = hashlib.sha256(f"{_boot_id()}|{kernel.resolve()}|{qemu}".encode()).hexdigest()[:16]
    return cache_dir / f"accel-{key}.json"


def _default_cache_dir() -> Path:
    return Path.home() / ".cache" / "fba"


def choose_accel(
    kernel: Path,
    *,
    require_kvm: bool = False,
    qemu: str = "qemu-system-x86_64",
    cache_dir: Path | None = None,
    probe: Callable[[Path], tuple[bool, str, float]] | None = None,
) -> AccelChoice:
    """KVM if the probe guest makes progress under it, else TCG (state it via `headline`).

    Raises:
        KvmUnavailable: `require_kvm` and KVM does not work here (within ~5 s).
    """
    path = _cache_path(cache_dir or _default_cache_dir(), kernel, qemu)
    choice: AccelChoice | None = None
    try:
        raw = json.loads(path.read_text())
        choice = AccelChoice(Accel(raw["accel"]), raw["reason"], raw["probe_seconds"], True)
    except (OSError, ValueError, KeyError, TypeError):
        choice = None
    if choice is None:
        works, reason, took = (probe or (lambda k: probe_kvm(k, qemu=qemu)))(kernel)
        choice = AccelChoice(Accel.KVM if works else Accel.TCG, reason, round(took, 3))
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps({**asdict(choice), "cached": False}))
            tmp.replace(path)
        except OSError:
            pass  # the cache is an optimisation; a read-only home must not fail the run
    if require_kvm and choice.accel is not Accel.KVM:
        raise KvmUnavailable(
            f"KVM required but unusable: {choice.reason}; run on a host with working "
            "nested/hardware virtualization or drop --require-kvm to use TCG"
        )
    return choice
