"""The faults wing: inject network, machine, service and failpoint faults into a cluster,
record each as a start/stop interval, and replay declarative, seeded fault schedules.

See docs/faults.md. Imports only downward (errors, log protocol, automation.spec data)."""

from harness.faults.injector import SCHEDULABLE, ActiveFault, Faults, validate_args
from harness.faults.recorder import FaultRecord, FaultRecorder
from harness.faults.runner import StepOutcome, run_plan
from harness.faults.schedule import Plan, PlannedStep, Schedule, ScheduleError, load_schedule, parse_schedule

__all__ = [
    "SCHEDULABLE",
    "ActiveFault",
    "FaultRecord",
    "FaultRecorder",
    "Faults",
    "Plan",
    "PlannedStep",
    "Schedule",
    "ScheduleError",
    "StepOutcome",
    "load_schedule",
    "parse_schedule",
    "run_plan",
    "validate_args",
]
