"""systemd verbs of `Node`: driver names (`wait_for_unit`, `systemctl`, ...) plus ours
(`journal_json`, `unit_exit_status`, `unit_timestamps`).

`wait_for_unit` differs from the driver on purpose:
- "inactive with no pending jobs" is tolerated for `INACTIVE_GRACE` seconds (a unit pulled
  in a moment later is a start-up race, not a failure), then fails;
- `failed` fails at once, without waiting out the budget;
- every failure carries `systemctl status` and the unit's last 50 journal lines.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from harness.errors import CheckFailed, CommandFailed, UsageError
from harness.machine.commands import CommandVerbs
from harness.waits import Duration, Observation, WaitExpired

ACTIVE_STATES: tuple[str, ...] = (
    "active", "reloading", "inactive", "failed", "activating", "deactivating", "maintenance", "refreshing",
)  # fmt: skip
"""systemd's unit active states (`systemctl --state=help`, systemd 252-256)."""

__all__ = ["INACTIVE_GRACE", "JOURNAL_LINES", "UnitVerbs", "parse_show"]

INACTIVE_GRACE = 5.0
JOURNAL_LINES = 50
DIAGNOSTICS_TIMEOUT = 5.0

TIMESTAMP_PROPERTIES = (
    "InactiveExitTimestampMonotonic",
    "ExecMainStartTimestampMonotonic",
    "ActiveEnterTimestampMonotonic",
    "ExecMainExitTimestampMonotonic",
    "ActiveExitTimestampMonotonic",
    "InactiveEnterTimestampMonotonic",
)


def parse_show(text: str) -> dict[str, str]:
    """Parse `systemctl show` output (`Key=Value` lines; values may contain '=')."""
    info: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            info[key] = value
    return info


def _systemctl_cmd(q: str, user: str | None) -> str:
    if user is None:
        return f"systemctl {q}"
    inner = shlex.quote(f"XDG_RUNTIME_DIR=/run/user/$(id -u) systemctl --user {q}")
    return f"su -l {shlex.quote(user)} --shell /bin/sh -c {inner}"


class UnitVerbs(CommandVerbs):
    """systemd-facing verbs; all built on `execute`."""

    def systemctl(self, q: str, user: str | None = None) -> tuple[int, str]:
        """Run `systemctl q` (as `user` with `--user` when given); `(rc, stdout)`.

        Parity:
            Driver: `systemctl Q`; with `user`, `systemctl --user Q` through `su -l USER` with
                `XDG_RUNTIME_DIR`; `(rc, stdout)`
            Ours: the same, the `su` command shell-quoted
            Tests: test_user_systemctl_runs_through_su, nixos_driver_console_timeout
        """
        return self.execute(_systemctl_cmd(q, user))

    def get_unit_info(self, unit: str, user: str | None = None) -> dict[str, str]:
        """All properties of `unit` from `systemctl show`.

        Raises:
            CommandFailed: `systemctl show` failed.

        Parity:
            Driver: `systemctl show UNIT` as a dict; a non-zero exit raises
            Ours: the same (`CommandFailed`); values may contain `=`
            Tests: test_unit_queries_parse_systemctl_show
        """
        rc, out = self.systemctl(f"--no-pager show {shlex.quote(unit)}", user)
        if rc != 0:
            raise CommandFailed(f"retrieving systemctl info for unit {unit} on {self.name} failed with exit code {rc}")
        return parse_show(out)

    def get_unit_property(self, unit: str, property: str, user: str | None = None) -> str:
        """One property of `unit` (e.g. "ActiveState").

        Parity:
            Driver: `systemctl show UNIT --property=P`: the value; a non-zero exit raises
            Ours: the same (`CommandFailed`); a property systemd does not print is `""`
            Tests: test_unit_queries_parse_systemctl_show
        """
        rc, out = self.systemctl(f"--no-pager show --property={shlex.quote(property)} {shlex.quote(unit)}", user)
        if rc != 0:
            raise CommandFailed(f"systemctl show {unit} --property={property} failed (rc {rc})")
        return parse_show(out).get(property, "")

    def require_unit_state(self, unit: str, require_state: str = "active") -> None:
        """Check `unit`'s ActiveState now.

        Raises:
            CheckFailed: the state differs; the message names both states.

        Parity:
            Driver: `ActiveState` from `get_unit_info` must equal `require_state`; the message names both
                states
            Ours: the same, reading only `ActiveState` (`CheckFailed`)
            Tests: test_unit_queries_parse_systemctl_show, nixos_driver_systemd
        """
        with self.nested(f"checking if unit {unit} has reached state '{require_state}'"):
            state = self.get_unit_property(unit, "ActiveState")
            if state != require_state:
                raise CheckFailed(f"unit {unit} on {self.name} is in state '{state}', expected '{require_state}'")

    def start_job(self, jobname: str, user: str | None = None) -> tuple[int, str]:
        """`systemctl start jobname`; `(rc, stdout)`.

        Parity:
            Driver: `systemctl start JOB` (`--user` with `user`); `(rc, stdout)`
            Ours: the same, the name shell-quoted
            Tests: test_start_and_stop_job_are_systemctl_start_and_stop
        """
        return self.systemctl(f"start {shlex.quote(jobname)}", user)

    def stop_job(self, jobname: str, user: str | None = None) -> tuple[int, str]:
        """`systemctl stop jobname`; `(rc, stdout)`.

        Parity:
            Driver: `systemctl stop JOB` (`--user` with `user`); `(rc, stdout)`
            Ours: the same, the name shell-quoted
            Tests: test_start_and_stop_job_are_systemctl_start_and_stop
        """
        return self.systemctl(f"stop {shlex.quote(jobname)}", user)

    def wait_for_job(self, jobname: str) -> None:
        """Wait for the unit `jobname` to be active (as the driver does)."""
        self.wait_for_unit(jobname)

    def unit_diagnostics(self, unit: str) -> str:
        """`systemctl status` plus the last 50 journal lines of `unit` (best effort, bounded)."""
        q = shlex.quote(unit)
        try:
            _, status = self.execute(f"systemctl --no-pager status {q} 2>&1 || true", timeout=DIAGNOSTICS_TIMEOUT)
            _, journal = self.execute(
                f"journalctl --no-pager -n {JOURNAL_LINES} -u {q} 2>&1 || true",
                timeout=DIAGNOSTICS_TIMEOUT,
            )
        except Exception as err:  # diagnostics must never hide the real failure
            return f"(diagnostics unavailable: {err})"
        return f"systemctl status {unit}:\n{status}\njournal of {unit}:\n{journal}"

    def wait_for_unit(self, unit: str, user: str | None = None, timeout: Duration | None = 900) -> None:
        """Wait until `unit` is active.

        Rides out "inactive, no pending jobs" for `INACTIVE_GRACE` s; fails at once on
        `failed`. Errors carry `systemctl status` and 50 journal lines.

        ```python
        node01.wait_for_unit("fba-join.service", timeout=120)
        ```

        Raises:
            CheckFailed: the unit failed, or stayed inactive with no job past the grace.
            WaitExpired: still not active at the deadline.

        Parity:
            Driver: polls `ActiveState` once a second; `failed` raises at once; `inactive` with no pending
                jobs raises at once
            Ours: rides out "inactive, no pending jobs" for `INACTIVE_GRACE` (5 s), then fails; `failed` fails
                at once; every failure carries `systemctl status` and 50 journal lines
            Tests: test_wait_for_unit_rides_out_brief_inactive,
                test_wait_for_unit_inactive_without_jobs_fails_after_grace,
                test_wait_for_unit_inactive_with_pending_job_keeps_waiting,
                test_wait_for_unit_fails_at_once_on_failed,
                test_wait_for_unit_timeout_carries_status_and_journal,
                test_wait_for_unit_on_a_unit_nobody_starts_fails_after_the_grace, misc, failover
        """
        inactive_since: list[float] = []
        q = shlex.quote(unit)
        probe = (
            f"{_systemctl_cmd(f'--no-pager show {q}', user)}; echo '--jobs--'; "
            f"{_systemctl_cmd(f'--no-pager list-jobs --no-legend --full {q}', user)} || true"
        )

        def look(left: float) -> Observation:
            obs = self._observe(probe, left, True)
            if obs.rc is None:
                return obs
            show, _, jobs = obs.output.partition("--jobs--")
            info = parse_show(show)
            state = info.get("ActiveState", "?")
            detail = f"ActiveState={state} SubState={info.get('SubState', '?')} " \
                     f"LoadState={info.get('LoadState', '?')}"  # fmt: skip
            if state == "active":
                return Observation(ok=True, rc=obs.rc, detail=detail)
            if state == "failed":
                raise CheckFailed(f"unit {unit} reached state 'failed' on {self.name} "
                                  f"({detail})\n{self.unit_diagnostics(unit)}")  # fmt: skip
            if state == "inactive" and not jobs.strip():
                now = self._clock()
                if not inactive_since:
                    inactive_since.append(now)
                first = inactive_since[0]
                if now - first >= INACTIVE_GRACE:
                    raise CheckFailed(
                        f"unit {unit} on {self.name} is inactive and there are no pending "
                        f"jobs (for {now - first:.1f} s); check that something starts it\n"
                        f"{self.unit_diagnostics(unit)}"
                    )
            else:
                inactive_since.clear()
            return Observation(ok=False, rc=obs.rc, output=show, detail=detail)

        with self.nested(f"waiting for unit {unit}"):
            try:
                self._wait(look, f"unit {unit}", timeout)
            except WaitExpired as err:
                raise WaitExpired(
                    err.what,
                    elapsed=err.elapsed,
                    budget=err.budget,
                    attempts=err.attempts,
                    last=err.last,
                    last_completed=err.last_completed,
                    extra=self.unit_diagnostics(unit),
                ) from None

    def wait_for_unit_active_state(
        self, unit: str, state: str, user: str | None = None, timeout: Duration | None = 900
    ) -> None:
        """Wait until `unit`'s `ActiveState` is `state`, whatever it passes through on the way
        (so `failed`, `inactive` and `deactivating` can be waited for too, unlike `wait_for_unit`).

        ```python
        node01.succeed("systemctl reload --no-block chainfire.service")
        node01.wait_for_unit_active_state("chainfire.service", "reloading", timeout=10)
        ```

        Raises:
            UsageError: `state` is not one systemd has (`ACTIVE_STATES`), before any poll.
            WaitExpired: not in `state` by the deadline; says the last state seen.

        Parity:
            Driver: newer drivers (nixpkgs nixos/tests/nixos-test-driver/unit-active-state.nix): polls the unit's
                `ActiveState` until it equals `state`, within `timeout`
            Ours: polls `systemctl show` (`ActiveState`, `SubState`) until `ActiveState` equals `state`; an
                unknown state is a `UsageError` (exit 4) before any poll; the timeout says the last state seen
            Tests: test_wait_for_unit_active_state_waits_through_other_states,
                test_wait_for_unit_active_state_rejects_an_unknown_state,
                test_wait_for_unit_active_state_times_out_with_the_last_state
        """
        if state not in ACTIVE_STATES:
            raise UsageError(f"wait_for_unit_active_state({unit!r}, {state!r}): systemd has no ActiveState "
                             f"{state!r}; one of {', '.join(ACTIVE_STATES)}")  # fmt: skip
        probe = _systemctl_cmd(f"--no-pager show --property=ActiveState,SubState {shlex.quote(unit)}", user)

        def look(left: float) -> Observation:
            obs = self._observe(probe, left, True)
            if obs.rc is None:
                return obs
            info = parse_show(obs.output)
            now = info.get("ActiveState", "?")
            detail = f"ActiveState={now} SubState={info.get('SubState', '?')}"
            return Observation(ok=now == state, rc=obs.rc, output=obs.output, detail=detail)

        with self.nested(f"waiting for unit {unit} to be {state}"):
            self._wait(look, f"unit {unit} in ActiveState {state}", timeout)

    def journal_json(self, unit: str, timeout: Duration | None = 60) -> list[dict[str, Any]]:
        """The journal of `unit` as parsed `journalctl -o json` records (all boots kept)."""
        out = self.succeed(f"journalctl --no-pager -o json -u {shlex.quote(unit)}", timeout=timeout)
        records: list[dict[str, Any]] = []
        for line in out.splitlines():
            if line.strip():
                records.append(json.loads(line))
        return records

    def unit_exit_status(self, unit: str) -> tuple[int, str]:
        """`(ExecMainStatus, Result)` as systemd recorded them, e.g. `(0, "success")`."""
        info = self._show(unit, ("ExecMainStatus", "Result"))
        return int(info.get("ExecMainStatus") or 0), info.get("Result", "")

    def unit_timestamps(self, unit: str) -> dict[str, int]:
        """Monotonic activation timestamps of `unit` in microseconds since boot (0 = never).

        Keys: the systemd property names in `TIMESTAMP_PROPERTIES`.
        """
        info = self._show(unit, TIMESTAMP_PROPERTIES)
        return {key: int(info.get(key) or 0) for key in TIMESTAMP_PROPERTIES}

    def _show(self, unit: str, props: tuple[str, ...]) -> dict[str, str]:
        out = self.succeed(
            f"systemctl --no-pager show --property={','.join(props)} {shlex.quote(unit)}",
            timeout=60,
        )
        return parse_show(out)
