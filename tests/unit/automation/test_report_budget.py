"""`fba health-report` ends within its one budget however many peers hang: the unit's
TimeoutStartSec and start limit are computed from it (automation/spec/startlimits.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from automation.context import Context
from automation.failpoints import Failpoints
from automation.http import TransportError
from automation.log import Logger
from automation.markers import MarkerStore
from automation.policy import Clock
from automation.report import REQUEST_TIMEOUT_S, run_health_report
from automation.spec.causes import Cause
from automation.spec.config import ClusterConfig
from automation.spec.exitcodes import ExitCode
from automation.spec.units import FIXED_BUDGETS


class HangingPeers:
    """Every request uses up its whole timeout on the fake clock, then fails."""

    def __init__(self, now: list[float]) -> None:
        self.now = now
        self.requests = 0

    def request(self, method: str, url: str, *, timeout: float, **_: Any) -> Any:
        self.requests += 1
        self.now[0] += timeout
        raise TransportError(f"{method} {url}: timed out", cause=Cause.HEADERS_TIMEOUT)


README_BUDGET_S = 60.0  # the README's command table: "one 60 s budget for all of it"


def test_checks_and_notify_end_within_one_budget(tmp_path: Path, join_config: dict[str, Any]) -> None:
    # 50 peers x 3 services x 3 s; not 10.0.1.13, this node's own address (a peer list that gives it
    # to another id is refused since break 12, K7)
    peers = [f"node{i:02d}=10.0.1.{i}:2380" for i in range(14, 64)]
    join_config.update(initial_peers=peers, notify_url="http://127.0.0.1:9/hook", notify_attempts=20)
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    http = HangingPeers(now)
    ctx = Context(
        config=ClusterConfig.model_validate_json(json.dumps(join_config)),
        log=Logger(stream=(tmp_path / "log").open("w")),
        http=http,  # type: ignore[arg-type]
        markers=MarkerStore(tmp_path / "state"),
        failpoints=Failpoints(),
        clock=Clock(monotonic=lambda: now[0], sleep=sleep),
    )
    assert run_health_report(ctx) is ExitCode.UNHEALTHY
    assert FIXED_BUDGETS["report.budget_s"] == README_BUDGET_S
    # The checks and the notify share the one budget (break 9: 60 s of checks, then up to 60 s
    # of notify); requests started before it ran out may overrun it (capped at >= 0.1 s).
    assert now[0] <= README_BUDGET_S + REQUEST_TIMEOUT_S + 20 * 0.1
    log = (tmp_path / "log").read_text()
    assert "Could not send the health summary" in log  # the notify had its share, was tried
    assert http.requests < 50 * 3  # the rest were reported "not checked", not tried
    assert "budget for all checks was spent" in (tmp_path / "log").read_text()
