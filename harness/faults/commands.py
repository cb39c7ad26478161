"""Guest-side fault commands as text: pure functions, unit-tested, run by `Faults` over SSH.

Every command is one bash string (the node runs it under `set -euo pipefail`), with every
value passed through `shlex.quote`. Faults that change the guest for a while also schedule
their own undo inside the guest (`systemd-run --on-active=`), so a harness that dies
mid-fault cannot leave a node with netem or a stopped process forever.
"""

from __future__ import annotations

import base64
import re
import shlex
from collections.abc import Mapping

from automation.spec.failpoints import DEFAULT_FIRED_FILE, FAILPOINTS
from automation.spec.units import ENVIRONMENT_FILE
from harness.errors import HarnessError

__all__ = [
    "FILL_FILE",
    "clock_skew",
    "clear_fired_failpoints",
    "failpoint_spec",
    "fill_disk",
    "kill_main_pid",
    "main_pid",
    "merge_env",
    "netem_add",
    "netem_del",
    "parse_env",
    "render_env",
    "signal_pid",
    "systemctl",
    "undo_later",
    "unfill_disk",
    "write_file",
]

FILL_FILE = "fba-fault-fill"  # created in the filled directory, removed on heal
_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_UNIT = re.compile(r"^[A-Za-z0-9@_.:\-]+$")
MAX_GUARD_S = 3600


def _unit(unit: str) -> str:
    if not _UNIT.match(unit):
        raise HarnessError(f"fault: {unit!r} is not a systemd unit name")
    return unit


def _dev(iface: str | None, peer_ip: str) -> str:
    """Shell expression for the interface: `iface`, or the one that routes to `peer_ip`."""
    if iface:
        return shlex.quote(iface)
    return f"$(ip -o route get {shlex.quote(peer_ip)} | sed -n 's/.* dev \\([^ ]*\\).*/\\1/p')"


def undo_later(command: str, after_s: float) -> str:
    """Run `command` in the guest after `after_s` seconds via a transient timer (a guard that
    bounds a fault even if the harness never heals it). Best effort: `|| true`."""
    return f"systemd-run --quiet --collect --on-active={_guard(after_s)}s /bin/sh -c {shlex.quote(command)} " + _QUIET


_QUIET = ">/dev/null 2>&1 || true"


def _guard(after_s: float) -> int:
    return max(1, min(int(after_s + 0.999), MAX_GUARD_S))


def netem_add(*, delay_ms: int = 0, jitter_ms: int = 0, loss_pct: float = 0.0, iface: str | None = None,
              peer_ip: str, guard_s: float) -> str:  # fmt: skip
    """Replace the root qdisc of the cluster NIC with netem, removed again after `guard_s`."""
    if delay_ms < 0 or jitter_ms < 0 or not 0 <= loss_pct <= 100:
        raise HarnessError(
            f"netem: need delay_ms, jitter_ms >= 0 and 0 <= loss_pct <= 100; got {delay_ms}, {jitter_ms}, {loss_pct}"
        )
    if not delay_ms and not loss_pct:
        raise HarnessError("netem: give delay_ms or loss_pct (an empty netem is no fault)")
    params = []
    if delay_ms:
        params += ["delay", f"{delay_ms}ms"] + ([f"{jitter_ms}ms"] if jitter_ms else [])
    if loss_pct:
        params += ["loss", f"{loss_pct:g}%"]
    dev = _dev(iface, peer_ip)
    return (
        f'dev={dev}; test -n "$dev"; modprobe sch_netem 2>/dev/null || true; '
        f'tc qdisc replace dev "$dev" root netem {" ".join(params)}; '
        # $dev expands now, in this shell: the guard removes netem from the same interface.
        f'systemd-run --quiet --collect --on-active={_guard(guard_s)}s tc qdisc del dev "$dev" root {_QUIET}'
    )


def netem_del(*, iface: str | None = None, peer_ip: str) -> str:
    """Remove netem (idempotent: no qdisc is fine)."""
    return f'dev={_dev(iface, peer_ip)}; tc qdisc del dev "$dev" root 2>/dev/null || true'


def systemctl(verb: str, *units: str) -> str:
    return "systemctl " + shlex.quote(verb) + "".join(" " + shlex.quote(_unit(u)) for u in units)


def main_pid(unit: str) -> str:
    """Prints the unit's main PID (0 when it has none)."""
    return f"systemctl show --property=MainPID --value {shlex.quote(_unit(unit))}"


def kill_main_pid(unit: str, signal: str = "KILL") -> str:
    """Send `signal` to the unit's main PID; fails if the unit has no main process."""
    if not signal.isalnum():
        raise HarnessError(f"fault: bad signal name {signal!r}")
    return f'pid=$({main_pid(unit)}); test "$pid" -gt 0; kill -s {signal} "$pid"; echo "$pid"'


def signal_pid(pid: int, signal: str) -> str:
    if pid <= 1 or not signal.isalnum():
        raise HarnessError(f"fault: refusing to send {signal!r} to pid {pid}")
    return f"kill -s {signal} {pid}"


def fill_disk(directory: str = "/var/lib", leave_mb: int = 8) -> str:
    """Allocate a file that leaves only `leave_mb` free on `directory`'s file system."""
    path = shlex.quote(f"{directory.rstrip('/')}/{FILL_FILE}")
    where = shlex.quote(directory)
    return (
        f"avail=$(df --output=avail -k {where} | tail -n 1 | tr -d ' '); "
        f"size=$(( avail - {int(leave_mb) * 1024} )); "
        f'if [ "$size" -gt 0 ]; then fallocate -l "${{size}}K" {path}; fi; '
        f"df --output=avail -k {where} | tail -n 1"
    )


def unfill_disk(directory: str = "/var/lib") -> str:
    path = f"{directory.rstrip('/')}/{FILL_FILE}"
    return f"rm -f {shlex.quote(path)}"


def clock_skew(offset_s: int) -> str:
    """Move the guest's wall clock by `offset_s` (negative: back); prints the new time."""
    return f"date -u -s @$(( $(date +%s) + ({int(offset_s)}) )) >/dev/null; date -u -Iseconds"


def write_file(path: str, data: bytes, mode: str = "600") -> str:
    """Write `data` atomically (temp + rename) through base64, so any bytes survive the shell."""
    if not re.fullmatch(r"[0-7]{3,4}", mode):
        raise HarnessError(f"fault: bad file mode {mode!r}")
    encoded = base64.b64encode(data).decode()
    target = shlex.quote(path)
    tmp = shlex.quote(f"{path}.fba-tmp")
    return (
        f"mkdir -p $(dirname {target}); printf %s {shlex.quote(encoded)} | base64 -d > {tmp}; "
        f"chmod {mode} {tmp}; mv -f {tmp} {target}"
    )


def parse_env(text: str) -> dict[str, str]:
    """KEY=value / KEY="value" lines (systemd EnvironmentFile=, as fba-inject writes them)."""
    env: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        env[key.strip()] = value
    return env


def render_env(env: Mapping[str, str]) -> bytes:
    lines = []
    for key, value in env.items():
        if not _ENV_KEY.match(key):
            raise HarnessError(f"environment file: {key!r} is not a shell-style name")
        if "\n" in value or "\0" in value:
            raise HarnessError(f"environment file: the value of {key} has a newline or NUL")
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        lines.append(f'{key}="{escaped}"\n')
    return "".join(lines).encode()


def merge_env(current: str, updates: Mapping[str, str | None]) -> bytes:
    """The env file with `updates` applied (None removes a key); other lines are kept."""
    env = parse_env(current)
    for key, value in updates.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return render_env(env)


def failpoint_spec(armed: Mapping[str, str]) -> str:
    """`{"join.after-add": "crash"}` -> "join.after-add=crash", names checked against the spec."""
    unknown = sorted(set(armed) - set(FAILPOINTS))
    if unknown:
        raise HarnessError(f"failpoints: unknown {unknown}; known: {', '.join(FAILPOINTS)}")
    return ",".join(f"{name}={action}" for name, action in armed.items())


def clear_fired_failpoints() -> str:
    return f"rm -f {shlex.quote(DEFAULT_FIRED_FILE)}"


ENV_FILE = ENVIRONMENT_FILE


def userspace_origin(output: str, now: float) -> float:
    """From "<uptime s>\\n<UserspaceTimestampMonotonic µs>" and the host's `now` (s), the host
    time at which the guest's userspace started."""
    lines = output.split()
    try:
        uptime = float(lines[0])
        userspace_us = int(lines[1])
    except (IndexError, ValueError):
        raise HarnessError(f"cannot read the guest's uptime and userspace start from {output!r}") from None
    return round(now - (uptime - userspace_us / 1e6), 3)
