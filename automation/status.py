"""`fba status`: the node's first-boot state, step by step, that never blocks past --timeout.

A step is `done` (marker present, shown with whom it names; or for the health check its last
run succeeded), `running`
(unit activating), `failed` (unit failed; the cause from its last ERROR journal line),
`pending` (not started yet, or systemd not available and no marker). A marker that is there
but not trusted (corrupt, unreadable, not a regular file, too large) and a state directory that
cannot be read are named, a line each; they do not change the verdict. cloud-init's
`status --wait` blocked forever when a unit never ran; ours returns at its deadline with
exit 2 ("not finished").

`--timeout` is one overall budget: the polls and every `systemctl`/`journalctl` they run
(`bounded_systemd`) share it, so a hung `systemctl` cannot stretch `status --wait` either. A
poll whose `systemctl` gave no answer in the time left keeps the last answer it had.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import NamedTuple

from automation.deadline import Deadline
from automation.markers import MarkerState, MarkerStatus, MarkerStore
from automation.spec.exitcodes import ExitCode
from automation.spec.markers import foreign_name, leaving_name
from automation.spec.units import AUTOMATION_UNITS, UnitSpec
from automation.systemd import COMMAND_TIMEOUT_S, Systemd, last_cause, run_command

POLL_S = 1.0

# The setting whose file a path is now (`automation.pathroles.role_of`), or None.
RoleOf = Callable[[Path], "str | None"]
# This node, described, when the step's marker names another node, cluster or Raft address (by
# the config, read only then: `fba status` loads no config on its usual path), else None.
ForeignOf = Callable[[UnitSpec, MarkerState], "str | None"]


class StepState(StrEnum):
    DONE = "done"
    RUNNING = "running"
    FAILED = "failed"
    PENDING = "pending"


# A NamedTuple, not a frozen dataclass: `fba status` does not import `dataclasses`
# (docs/CONTRIBUTING.md, "The start-up path").
class StepStatus(NamedTuple):
    unit: str
    state: StepState
    since: str | None = None
    cause: str | None = None
    marker: str | None = None
    marker_for: str | None = None  # whom the marker names; "unknown" for a hand-written one
    # Markers of this step that are there but not trusted (corrupt, unreadable, not a file), one
    # line each: "an empty or corrupt marker is reported and not trusted" (README).
    problems: tuple[str, ...] = ()


def marker_problem(
    unit: UnitSpec, markers: MarkerStore, state: MarkerState, role_of: RoleOf | None = None
) -> str | None:
    """One line for a marker that is there but not trusted; None for absent or readable ones.

    `role_of`: names the setting whose file the marker path is (a link or a hard link to the
    bootstrap token, the config): such a marker is named as that, and nothing of it is told
    but that (break 11, H8: its first line was quoted, the bootstrap token in `fba status`)."""
    if state.status is not MarkerStatus.CORRUPT:
        return None
    prefix = f"{unit.service.value}: " if unit.service else ""
    role = role_of(markers.path(state.name)) if role_of is not None else None
    if role is not None:
        return (
            f"{prefix}marker {markers.path(state.name)} is the same file as {role}; not trusted "
            "(its content is not shown; remove the marker path, which is not fba's)"
        )
    detail = state.detail if state.detail.startswith(("unreadable", "too large")) else f"corrupt: {state.detail}"
    return f"{prefix}marker {markers.path(state.name)} {detail}; not trusted"


def step_status(
    unit: UnitSpec,
    markers: MarkerStore,
    systemd: Systemd,
    props: dict[str, str],
    *,
    report: bool = True,
    role_of: RoleOf | None = None,
    foreign_of: ForeignOf | None = None,
) -> StepStatus:
    """The step's state. `report`: name its untrusted markers (off when the state directory
    itself cannot be read, which is reported once instead of once per marker)."""
    states = [markers.read(name) for name in unit.markers]
    problems = tuple(p for p in (marker_problem(unit, markers, s, role_of) for s in states) if p) if report else ()
    # The newest of the step's markers: a joiner cloned from a bootstrap node's disk has that
    # node's old `initialized` beside its own `joined` (break 9, F10: status showed the clone's).
    present = [state for state in states if state.present]
    marker = max(present, key=lambda s: s.timestamp.timestamp() if s.timestamp else float("-inf"), default=None)
    if marker is None and report:
        # A leave that did not finish (killed, or its DELETE may have taken effect) set the
        # marker aside (`automation.leave`): not trusted; the join re-reads the leader's list.
        problems += tuple(
            f"marker {markers.path(leaving_name(name))}: set aside by an `fba leave` that did not finish; not "
            "trusted (the next `fba join` reads the leader's member list)"
            for name in unit.markers
            if markers.exists(leaving_name(name))
        )
        # Another node's marker (a cloned disk) that the leader's list refuted: set aside by the
        # join's marker check (`automation.markertrust`), never done (break 10, G5).
        problems += tuple(
            f"marker {markers.path(foreign_name(name))}: another node's marker (or one naming nobody) that the "
            "leader's member list refuted; set aside, not trusted (the next `fba join` joins this node as itself)"
            for name in unit.markers
            if markers.exists(foreign_name(name))
        )
    active, result = props.get("ActiveState", ""), props.get("Result", "")
    # The step's unit failed or waits to restart although its marker is there: the join did not
    # accept the marker. One naming another node (a cloned disk) is never done without the
    # leader's word (break 12, K14), so only then is it compared with this node's config.
    unaccepted = active == "failed" or props.get("SubState") == "auto-restart"
    other = foreign_of(unit, marker) if marker is not None and unaccepted and foreign_of is not None else None
    if marker is not None and other is not None:
        named = marker.identity.describe() if marker.identity else "nobody"
        problems += (
            f"marker {markers.path(marker.name)}: written for {named}, not for this node ({other}); not trusted "
            "until the leader lists this node (a cloned disk's marker)",
        )
    elif marker is not None:
        since = marker.timestamp.isoformat() if marker.timestamp else None
        # status reads no config on this path: it shows whom the marker names, and the join
        # (which knows who this node is) is what verifies a marker naming someone else or no one.
        whom = marker.identity.describe() if marker.identity else "unknown"
        return StepStatus(
            unit.name, StepState.DONE, since=since, marker=marker.name, marker_for=whom, problems=problems
        )
    if active == "failed" or (result not in ("", "success") and active != "activating"):
        cause = last_cause(systemd.journal_json(unit.name)) or f"unit result: {result or active}"
        return StepStatus(unit.name, StepState.FAILED, cause=cause, problems=problems)
    if active in ("activating", "reloading") or props.get("SubState") == "auto-restart":
        return StepStatus(unit.name, StepState.RUNNING, problems=problems)
    if not unit.markers and result == "success" and props.get("ExecMainExitTimestamp"):
        return StepStatus(unit.name, StepState.DONE, since=props.get("ExecMainExitTimestamp"))
    if unit.markers and active == "active":
        # RemainAfterExit unit that succeeded with exit 2 and left no marker: odd, but done.
        return StepStatus(unit.name, StepState.DONE, problems=problems)
    return StepStatus(unit.name, StepState.PENDING, problems=problems)


def overall(steps: list[StepStatus]) -> ExitCode:
    if any(s.state is StepState.FAILED for s in steps):
        return ExitCode.FAILED
    if all(s.state is StepState.DONE for s in steps):
        return ExitCode.OK
    return ExitCode.NOT_FINISHED


Answers = dict[str, dict[str, str]]  # unit name -> the properties systemd last gave for it


def collect(
    markers: MarkerStore,
    systemd: Systemd,
    known: Answers | None = None,
    role_of: RoleOf | None = None,
    foreign_of: ForeignOf | None = None,
) -> list[StepStatus]:
    """The steps now. `known`: what systemd answered before (updated in place); a unit it gives
    no properties for this time (`systemctl show` failed or ran out of time: it names every unit
    it is asked about, even one that does not exist) keeps its last answer. `status --wait`
    printed steps it had seen running as `pending` when its last poll got ~1 s (break 9)."""
    known = {} if known is None else known
    fresh = systemd.units([unit.name for unit in AUTOMATION_UNITS])
    known.update({name: props for name, props in fresh.items() if props})
    report = markers.directory_problem() is None
    return [
        step_status(
            unit, markers, systemd, known.get(unit.name, {}), report=report, role_of=role_of, foreign_of=foreign_of
        )
        for unit in AUTOMATION_UNITS
    ]


def bounded_systemd(deadline: Deadline) -> Systemd:
    """Systemd whose every command gets at most the time left of `deadline` (at least 0.1 s)."""
    return Systemd(runner=lambda argv: run_command(argv, timeout=deadline.cap(COMMAND_TIMEOUT_S)))


def run_status(
    markers: MarkerStore,
    systemd: Systemd,
    *,
    wait: bool,
    deadline: Deadline,
    emit: Callable[[str], None],
    fmt: str,
    role_of: RoleOf | None = None,
    foreign_of: ForeignOf | None = None,
) -> ExitCode:
    known: Answers = {}
    steps = collect(markers, systemd, known, role_of, foreign_of)
    for _ in range(1_000_000):  # bounded by the deadline
        if not wait or overall(steps) is not ExitCode.NOT_FINISHED or deadline.expired():
            break
        deadline.sleep(POLL_S)
        steps = collect(markers, systemd, known, role_of, foreign_of)
    code = overall(steps)
    emit(render(steps, code, fmt, markers.directory_problem()))
    return code


def render(steps: list[StepStatus], code: ExitCode, fmt: str, directory_problem: str | None = None) -> str:
    """Text (a line per step, a line per problem under it) or one JSON object. Problems do not
    change the verdict: an untrusted marker leaves its step to what systemd says (pending,
    running, failed), as the exit codes promise."""
    verdict = {ExitCode.OK: "done", ExitCode.FAILED: "failed"}.get(code, "not-finished")
    head = [directory_problem] if directory_problem else []
    if fmt == "json":
        import json  # only for --format json: the text form is what a unit start or a human reads

        every = [*head, *(p for s in steps for p in s.problems)]
        document = {"status": verdict, "problems": every, "steps": [s._asdict() for s in steps]}
        return json.dumps(document, separators=(",", ":"))
    lines = [f"first-boot: {verdict}", *(f"  {p}" for p in head)]
    for s in steps:
        extra = f" since {s.since}" if s.since else f": {s.cause}" if s.cause else ""
        extra += f" (marker for {s.marker_for})" if s.marker_for else ""
        lines.append(f"  {s.unit:<32} {s.state.value}{extra}")
        lines += [f"    {p}" for p in s.problems]
    return "\n".join(lines)
