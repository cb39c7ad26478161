"""What a node's serial console says about how far its boot got: phases and unit status lines.

Pure functions over console text (no files, no clock), so recorded consoles test them:

    boot_segment(text, boot=2)   -> the text of the node's 2nd boot (from its kernel banner on)
    phases_reached(segment)      -> ["kernel", "initrd", "systemd", "network-online"]
    unit_lines(segment)          -> [UnitLine("chainfire-cluster-join.service", "starting"), ...]

Phases, in boot order (each named by the console line that starts it):
    kernel          "Linux version ..."                 (before it: firmware, or iPXE)
    initrd          "Trying to unpack rootfs image as initramfs" / "Unpacking initramfs"
    systemd         "systemd[1]: systemd NNN running in system mode" / "Run /init as init process"
    network-online  systemd's "Reached target network-online.target"
    ready           the image's "FBA-READY <state> ..." line (`harness.image.contract`)

systemd's status lines shorten long names in the middle ("Starting chainfire-cluster…p or join
the chainfire cluster..."), so a unit is recognised when its "name - description" starts with
the part before the "…" and ends with the part after it. systemd stops printing status lines
once the serial getty owns the console, so the units after network-online are often not seen
here; the READY line then says which units failed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from automation.spec.units import AUTOMATION_UNITS, UnitSpec
from harness.image.contract import READY_PATTERN
from harness.slowness import NETWORK_ONLINE_PATTERN

__all__ = ["BOOT_PHASES", "KERNEL_BANNER", "UnitLine", "boot_segment", "phases_reached", "ready_line", "unit_lines"]

KERNEL_BANNER: re.Pattern[str] = re.compile(r"Linux version \S+")
"""The first kernel line of every boot: boots in an appended console log are split at it."""

BOOT_PHASES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("kernel", KERNEL_BANNER),
    ("initrd", re.compile(r"Trying to unpack rootfs image as initramfs|Unpacking initramfs")),
    ("systemd", re.compile(r"systemd\[1\]: systemd \S+ running in system mode|Run /init as init process")),
    ("network-online", NETWORK_ONLINE_PATTERN),
)
"""Console phases in boot order (after "qemu", the harness's own start of the VM)."""

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_STATUS = re.compile(
    r"(?:systemd\[1\]: |\[\s*(?:OK|FAILED)\s*\] |^\s+)"
    r"(?P<verb>Starting|Started|Finished|Failed to start) (?P<what>[^\r\n]+?)(?:\.\.\.|\.)?\s*$",
    re.MULTILINE,
)
_VERB_STATE = {"Starting": "starting", "Started": "done", "Finished": "done", "Failed to start": "failed"}


@dataclass(frozen=True)
class UnitLine:
    """One systemd status line about an automation unit; `state`: starting, done or failed."""

    unit: str
    state: str


def clean(text: str) -> str:
    """Console text without colour codes and carriage returns."""
    return _ANSI.sub("", text).replace("\r", "")


def boot_segment(text: str, boot: int) -> str | None:
    """The console text of the `boot`-th boot (1-based) in `text`, from its kernel banner on;
    None while that boot has printed no kernel banner yet."""
    starts = [m.start() for m in KERNEL_BANNER.finditer(text)]
    if boot < 1 or len(starts) < boot:
        return None
    return text[starts[boot - 1] :]


def phases_reached(segment: str) -> list[str]:
    """The phases of `BOOT_PHASES` whose line is in `segment`, in boot order (each once)."""
    return [name for name, pattern in BOOT_PHASES if pattern.search(segment)]


def ready_line(segment: str) -> re.Match[str] | None:
    """The READY line of this boot (groups `state`, `failed`, ...), if printed."""
    return READY_PATTERN.search(segment)


def _names(what: str, units: Sequence[UnitSpec]) -> str | None:
    what = what.strip()
    for unit in units:
        full = f"{unit.name} - {unit.description}"
        if what in (unit.name, full) or what.startswith(f"{unit.name} "):
            return unit.name
        head, ellipsis, tail = what.partition("…")
        if ellipsis and head and full.startswith(head) and full.endswith(tail.rstrip(".")):
            return unit.name
    return None


def unit_lines(segment: str, units: Sequence[UnitSpec] = AUTOMATION_UNITS) -> list[UnitLine]:
    """systemd's status lines about `units` in `segment`, in console order.

    Both forms count: the kernel-log form before journald starts ("systemd[1]: Starting
    chainfire-cluster-join.service - ...") and the status form ("[  OK  ] Finished ...").
    """
    found: list[UnitLine] = []
    for match in _STATUS.finditer(clean(segment)):
        name = _names(match.group("what"), units)
        if name is not None:
            found.append(UnitLine(name, _VERB_STATE[match.group("verb")]))
    return found
