"""Units, units.json and the docs table come from the one unit graph."""

from __future__ import annotations

import json
from pathlib import Path

from automation.render import render_units, systemd_unit, units_json
from automation.spec.commands import COMMANDS, command, exit_table_markdown
from automation.spec.exitcodes import ExitCode
from automation.spec.startlimits import limits
from automation.spec.units import AUTOMATION_UNITS, FLAREDB_JOIN, HEALTH_CHECK

ROOT = Path(__file__).resolve().parents[3]


def test_checked_in_units_json_is_current() -> None:
    assert (ROOT / "nix" / "units.json").read_text() == units_json()


def test_design_ordering() -> None:
    text = systemd_unit(FLAREDB_JOIN)
    assert "After=chainfire-cluster-join.service flaredb.service" in text
    assert "Wants=chainfire-cluster-join.service flaredb.service" in text and "Requires=" not in text
    assert "ExecStart=/usr/bin/fba join --service flaredb --require-joined chainfire" in text
    assert "Before=iam-initial-setup.service" in text
    assert "Type=oneshot" in text and "RemainAfterExit=yes" in text
    assert "SuccessExitStatus=2" in text
    assert "RestartPreventExitStatus=3" in text
    health = systemd_unit(HEALTH_CHECK)
    assert "RemainAfterExit" not in health and "SuccessExitStatus" not in health


def test_every_unit_orders_after_time_sync_without_pulling_it_in() -> None:
    """Break 12, K3: the units judge times (TLS certificates, the node token's expiry) and
    ordered after network-online.target only. systemd.special(7): services that need a
    synchronized clock order After=time-sync.target and do not pull it in (the NTP client and
    systemd-time-wait-sync.service do; without those it costs nothing)."""
    for unit in AUTOMATION_UNITS:
        assert "time-sync.target" in unit.after, unit.name
        assert "time-sync.target" not in (*unit.wants, *unit.requires), unit.name
        assert "time-sync.target" in systemd_unit(unit).split("After=", 1)[1].split("\n", 1)[0]


def test_every_oneshot_has_a_finite_start_timeout() -> None:
    for unit in AUTOMATION_UNITS:
        timeout = limits(unit).timeout_start_sec
        assert f"TimeoutStartSec={timeout}" in systemd_unit(unit)
        assert 0 < timeout <= 900


def test_graph_is_acyclic_and_refers_to_known_units() -> None:
    names = {u.name for u in AUTOMATION_UNITS}
    graph = json.loads(units_json())
    known = names | set(graph["externalUnits"]) | {"multi-user.target"}
    edges: dict[str, set[str]] = {n: set() for n in names}
    for unit in AUTOMATION_UNITS:
        for other in (*unit.after, *unit.before, *unit.requires, *unit.wants):
            assert other in known, f"{unit.name} refers to unknown {other}"
        for req in unit.requires:
            assert req in unit.after, f"{unit.name}: Requires={req} without After="
        edges[unit.name] |= {a for a in unit.after if a in names}
        for b in unit.before:
            if b in names:
                edges[b].add(unit.name)
    seen: set[str] = set()

    def visit(node: str, path: tuple[str, ...]) -> None:
        assert node not in path, f"cycle: {' -> '.join((*path, node))}"
        if node in seen:
            return
        for nxt in edges[node]:
            visit(nxt, (*path, node))
        seen.add(node)

    for name in names:
        visit(name, ())


def test_render_units_writes_files(tmp_path: Path) -> None:
    written = render_units(tmp_path, fba="/opt/fba/bin/fba")
    assert {p.name for p in written} == {u.name for u in AUTOMATION_UNITS} | {"units.json"}
    assert (
        "ExecStart=/opt/fba/bin/fba join --service chainfire"
        in (tmp_path / "chainfire-cluster-join.service").read_text()
    )


def test_exit_table_lists_every_code() -> None:
    table = exit_table_markdown()
    for spec in COMMANDS:
        for row in spec.exits:
            assert f"| `fba {spec.name}` | {row.code} | {row.name} |" in table
    assert [m.code for m in command("join").exits] == [0, 1, 2, 3, 70]
    assert [m.code for m in command("detect").exits] == [0, 1, 2, 70]


def test_readme_exit_table_is_current() -> None:
    readme = (ROOT / "README.md").read_text()
    assert exit_table_markdown() in readme


def test_readme_generated_tables_are_current() -> None:
    from automation.render import refresh_generated

    readme = (ROOT / "README.md").read_text()
    assert refresh_generated(readme) == readme


def test_require_joined_is_consistent_with_argv() -> None:
    for unit in AUTOMATION_UNITS:
        if unit.requires_joined:
            prerequisite = next(u for u in AUTOMATION_UNITS if u.name == unit.requires_joined)
            assert unit.argv[-2:] == ("--require-joined", prerequisite.service.value if prerequisite.service else "")
            assert unit.requires_joined in unit.after and unit.requires_joined in unit.wants


def test_the_exit_table_has_the_codes_every_command_may_exit_with() -> None:
    """break 9: 130 on SIGINT was no row of the documented table (it is the shell's convention)."""
    from automation.spec.exitcodes import SIGNALS

    table = exit_table_markdown()
    assert [m.code for m in SIGNALS] == [ExitCode.INTERRUPTED] == [130]
    assert f"| every command | 130 | {SIGNALS[0].name} |" in table
    assert "SIGTERM" in table  # what it does is said with the table, from the same data


# Break 12, K13: the units' sandbox and the config's write paths agree, from one list.
def test_read_write_paths_come_from_the_one_list_plus_the_operators() -> None:
    from automation.spec.units import WRITABLE_DIRS

    text = systemd_unit(HEALTH_CHECK, writable=("/var/lib/node_exporter/textfile_collector",))
    line = next(x for x in text.splitlines() if x.startswith("ReadWritePaths="))
    assert line.split("=", 1)[1].split() == [f"-{d}" for d in WRITABLE_DIRS] + [
        "-/var/lib/node_exporter/textfile_collector"
    ]
    assert json.loads(units_json())["writableDirs"] == list(WRITABLE_DIRS)


def test_a_write_path_outside_the_units_writable_dirs_is_named(join_config: dict[str, object]) -> None:
    from automation.configfile import parse
    from automation.spec.units import sandbox_problems

    join_config.update(
        prometheus_textfile="/var/lib/node_exporter/textfile_collector/fba.prom",
        iam={"credentials_path": "/persist/secrets/iam-admin.json"},
    )
    config = parse(json.dumps(join_config).encode())
    found = sandbox_problems(config, "/var/lib/first-boot-automation")
    assert [p.split(":", 1)[0] for p in found] == ["iam.credentials_path", "prometheus_textfile"]
    assert "ProtectSystem=strict" in found[1] and "services.first-boot-automation.writablePaths" in found[1]
    others = sandbox_problems(config, "/srv/state", ("/persist/secrets", "/var/lib/node_exporter"))
    assert [p.split(":", 1)[0] for p in others] == ["state dir"]
    assert sandbox_problems(parse(json.dumps(join_config | {"prometheus_textfile": None, "iam": {}}).encode()),
                            "/var/lib/first-boot-automation") == []  # fmt: skip
