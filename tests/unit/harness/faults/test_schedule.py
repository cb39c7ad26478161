from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.faults.schedule import ScheduleError, load_schedule, parse_schedule

NODES = ["node01", "node02", "node03", "node04"]

TOML = """
name = "leader-pause"
seed = 7
[topology]
join_nodes = 1
[[steps]]
at_s = 5
fault = "pause"
args = { node = { choice = ["node01", "node02", "node03"] } }
duration_s = 20
jitter_s = 3
[[steps]]
at_s = 1
fault = "netem"
args = { node = "node04", delay_ms = { randint = [50, 150] }, loss_pct = { uniform = [0, 5] } }
duration_s = 10
[[steps]]
at_s = 30
fault = "reboot"
args = { node = "node04" }
"""


def test_toml_schedule_resolves_deterministically_from_the_seed() -> None:
    schedule = parse_schedule(TOML, fmt="toml")
    first, again = schedule.plan(nodes=NODES), schedule.plan(nodes=NODES)
    assert first == again and first.seed == 7
    assert [s.fault for s in first.steps] == ["netem", "pause", "reboot"]  # sorted by time
    pause = first.steps[1]
    assert 5 <= pause.at_s <= 8 and pause.args["node"] in NODES[:3] and pause.end_s == pause.at_s + 20
    assert 50 <= first.steps[0].args["delay_ms"] <= 150
    assert json.loads(first.as_json())["steps"][2]["fault"] == "reboot"


def test_another_seed_gives_another_but_stable_plan() -> None:
    schedule = parse_schedule(TOML, fmt="toml")
    plans = {schedule.plan(seed=s).as_json() for s in range(20)}
    assert len(plans) > 1
    assert schedule.plan(seed=3) == schedule.plan(seed=3)


def test_json_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"name": "x", "steps": [{"at_s": 0, "fault": "isolate", "args": {"node": "node03"}}]}))
    plan = load_schedule(path).plan(nodes=NODES)
    assert plan.steps[0].duration_s is None and plan.end_s == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not valid JSON"),
        ('{"name": "x", "steps": []}', "steps: List should have at least 1 item"),
        ('{"name": "x", "steps": [{"at_s": -1, "fault": "crash"}]}', "steps.0.at_s"),
        ('{"name": "x", "bogus": 1, "steps": [{"at_s": 1, "fault": "crash"}]}', "bogus: Extra inputs"),
        (
            '{"name": "x", "steps": [{"at_s": 1, "fault": "reboot", "args": {"node": "a"}, "duration_s": 3}]}',
            "instantaneous",
        ),
    ],
)
def test_invalid_files_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        parse_schedule(text)


@pytest.mark.parametrize(
    ("step", "message"),
    [
        ({"at_s": 1, "fault": "meteor"}, "unknown fault 'meteor'"),
        ({"at_s": 1, "fault": "crash", "args": {"nod": "node01"}}, r"steps\[0\] \(crash\)"),
        ({"at_s": 1, "fault": "crash", "args": {"node": "node09"}}, "unknown node"),
        ({"at_s": 1, "fault": "partition", "args": {"groups": [["node01"], ["nodeX"]]}}, "nodeX"),
        ({"at_s": 1, "fault": "crash", "args": {"node": {"choice": []}}}, "non-empty list"),
        ({"at_s": 1, "fault": "netem", "args": {"node": "node01", "delay_ms": {"randint": [1]}}}, r"\[low, high\]"),
        ({"at_s": 1900, "fault": "crash", "args": {"node": "node01"}}, "cap"),
    ],
)
def test_plan_checks_faults_args_and_node_names(step: dict[str, object], message: str) -> None:
    schedule = parse_schedule(json.dumps({"name": "x", "steps": [step]}))
    with pytest.raises(ScheduleError, match=message):
        schedule.plan(nodes=NODES)


def test_missing_file_is_a_schedule_error(tmp_path: Path) -> None:
    with pytest.raises(ScheduleError, match="cannot read schedule"):
        load_schedule(tmp_path / "nope.toml")


def test_shipped_schedules_are_valid() -> None:
    folder = Path(__file__).resolve().parents[4] / "harness" / "scenarios" / "schedules"
    files = sorted(folder.glob("*.json")) + sorted(folder.glob("*.toml"))
    assert files
    for path in files:
        schedule = load_schedule(path)
        names = [f"node{i:02d}" for i in range(1, schedule.topology.bootstrap_nodes + schedule.topology.join_nodes + 1)]
        schedule.plan(nodes=names)


@pytest.mark.parametrize(
    ("step", "nodes", "message"),
    [
        ({"at_s": 1, "fault": "partition", "args": {"groups": [["node01", "node02"], ["node02", "node03"]]}}, NODES,
         r"steps\[1\] \(partition\): partition groups overlap: \['node02'\]"),
        ({"at_s": 1, "fault": "partition", "args": {"groups": [["node01", "node02"], ["node02"]]}}, None,
         r"steps\[1\] \(partition\): partition groups overlap"),  # checked without the cluster's names too
        ({"at_s": 1, "fault": "partition", "args": {"groups": [["node01", "node02"]]}}, NODES,
         r"steps\[1\] \(partition\): partition needs at least two non-empty groups"),
        ({"at_s": 1, "fault": "partition", "args": {"groups": ["node01", "node02"]}}, None,
         r"steps\[1\] \(partition\): partition groups: expected a list of lists"),
        ({"at_s": 1, "fault": "cut", "args": {"src": "node01", "dst": ["node01"]}}, None,
         r"steps\[1\] \(cut\): cut: \['node01'\] on both sides"),
        ({"at_s": 1, "fault": "block", "args": {"node": "node09"}}, NODES, r"steps\[1\] \(block\): unknown node"),
        ({"at_s": 1, "fault": "isolate", "args": {"node": "node09"}}, NODES, r"steps\[1\] \(isolate\): unknown node"),
    ],
)  # fmt: skip
def test_network_entries_are_built_at_plan_time(step: dict[str, object], nodes: list[str] | None,
                                                 message: str) -> None:  # fmt: skip
    first = {"at_s": 0, "fault": "pause", "args": {"node": "node01"}, "duration_s": 1}
    schedule = parse_schedule(json.dumps({"name": "x", "steps": [first, step]}))
    with pytest.raises(ScheduleError, match=message):
        schedule.plan(nodes=nodes)


def test_block_is_schedulable_and_valid_network_steps_plan() -> None:
    steps = [
        {"at_s": 0, "fault": "block", "args": {"node": "node03"}, "duration_s": 5},
        {"at_s": 1, "fault": "partition", "args": {"groups": [["node01"], ["node02"]]}, "duration_s": 5},
        {"at_s": 2, "fault": "isolate", "args": {"node": "node04"}},
    ]
    plan = parse_schedule(json.dumps({"name": "x", "steps": steps})).plan(nodes=NODES)
    assert [s.fault for s in plan.steps] == ["block", "partition", "isolate"]
