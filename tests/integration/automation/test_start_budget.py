"""A failing start of a join unit ends within the budget its start limits are computed from.

`automation/spec/startlimits.py` bounds one start of a join unit by the sum of its
`run_budget` (fba's start-up, the local health wait, the join deadline, one request). These
runs fail in the two ways that use up the most of it, with small budgets so the test is quick,
and check fba ends by itself within the same sum computed from those budgets (the unit's
TimeoutStartSec is that sum for the defaults: systemd's kill stays a backstop).
"""

from __future__ import annotations

from automation.spec.exitcodes import ExitCode
from automation.spec.startlimits import budget_s
from automation.spec.units import CHAINFIRE_JOIN

from .conftest import Fba, Node, cause

JOIN = ("join", "--service", "chainfire")
BUDGETS = {"health.timeout_s": 3.0, "join.deadline_s": 3.0, "join.request_timeout_s": 1.0}
# fba's start-up here, instead of the 30 s the units allow on a slow guest (a loaded host: ~1 s).
HOST_STARTUP_S = 5.0


def run_budget_s() -> float:
    """The join unit's run budget with this test's budgets instead of the defaults."""
    budgets = {**BUDGETS, "fba.startup_s": HOST_STARTUP_S}
    return sum(budgets.get(term, budget_s(term)) for term in CHAINFIRE_JOIN.run_budget)


def config(node: Node) -> dict[str, object]:
    return node.config(
        health={"timeout_s": BUDGETS["health.timeout_s"]},
        join={
            "deadline_s": BUDGETS["join.deadline_s"],
            "request_timeout_s": BUDGETS["join.request_timeout_s"],
            "max_attempts": 1000,
        },
    )


def test_health_wait_then_a_join_without_quorum_ends_within_the_run_budget(fba: Fba, node: Node) -> None:
    node.leader()
    # Half the health budget: the starting service answers 503 with `Retry-After: 1`, so fba
    # polls at 0, 1 and 2 s; healthy at 1.5 s is seen at 2 s. (Healthy at 1.5 s of a 2 s budget
    # was seen at 1 s as "not yet", and fba rightly gave up: waiting 1 s more left no time.)
    node.chainfire.healthy_after(BUDGETS["health.timeout_s"] - 1.5)
    node.clusters["chainfire"].has_quorum = False  # then the whole join deadline
    fba.write_config(config(node))

    result = fba.run(*JOIN, timeout=run_budget_s())

    assert result.rc == ExitCode.FAILED, result.describe()
    assert cause(result.last) == "no quorum", result.describe()
    assert result.elapsed_s <= run_budget_s()
    assert result.elapsed_s >= BUDGETS["join.deadline_s"]


def test_a_service_that_never_turns_healthy_ends_within_the_run_budget(fba: Fba, node: Node) -> None:
    node.leader()
    node.chainfire.healthy_after(3600)
    fba.write_config(config(node))

    result = fba.run(*JOIN, timeout=run_budget_s())

    assert result.rc == ExitCode.FAILED, result.describe()
    assert cause(result.last) == "health check timeout"
    assert result.elapsed_s <= run_budget_s()
