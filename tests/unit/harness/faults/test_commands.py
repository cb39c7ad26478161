from __future__ import annotations

import base64
import re

import pytest

from harness.errors import HarnessError
from harness.faults import commands


def test_netem_add_routes_to_the_cluster_nic_and_guards_itself() -> None:
    text = commands.netem_add(delay_ms=200, jitter_ms=50, loss_pct=5, peer_ip="10.77.0.1", guard_s=30)
    assert "ip -o route get 10.77.0.1" in text
    assert 'tc qdisc replace dev "$dev" root netem delay 200ms 50ms loss 5%' in text
    assert 'systemd-run --quiet --collect --on-active=30s tc qdisc del dev "$dev" root' in text


def test_netem_add_with_a_named_interface_and_bad_values() -> None:
    text = commands.netem_add(loss_pct=12.5, iface="ens4", peer_ip="x", guard_s=0.2)
    assert "dev=ens4;" in text and "loss 12.5%" in text and "--on-active=1s" in text
    with pytest.raises(HarnessError, match="give delay_ms or loss_pct"):
        commands.netem_add(peer_ip="x", guard_s=1)
    with pytest.raises(HarnessError, match="loss_pct"):
        commands.netem_add(loss_pct=120, peer_ip="x", guard_s=1)
    assert commands.netem_del(iface="ens4", peer_ip="x").endswith("|| true")


def test_guards_are_capped_at_an_hour() -> None:
    assert "--on-active=3600s" in commands.undo_later("true", 99999)


def test_kill_and_hang_use_the_main_pid_and_refuse_bad_input() -> None:
    text = commands.kill_main_pid("chainfire.service", "STOP")
    assert text.startswith("pid=$(systemctl show --property=MainPID --value chainfire.service)")
    assert 'test "$pid" -gt 0; kill -s STOP "$pid"' in text
    with pytest.raises(HarnessError):
        commands.kill_main_pid("x; rm -rf /", "KILL")
    with pytest.raises(HarnessError):
        commands.signal_pid(1, "KILL")
    with pytest.raises(HarnessError):
        commands.kill_main_pid("a.service", "KILL; reboot")
    assert commands.systemctl("stop", "flaredb.service") == "systemctl stop flaredb.service"


def test_fill_disk_leaves_a_bounded_margin_and_unfill_removes_the_file() -> None:
    text = commands.fill_disk("/var/lib/", leave_mb=8)
    assert "df --output=avail -k /var/lib" in text
    assert "size=$(( avail - 8192 ))" in text
    assert 'fallocate -l "${size}K" /var/lib/fba-fault-fill' in text
    assert commands.unfill_disk("/var/lib") == "rm -f /var/lib/fba-fault-fill"


def test_clock_skew_moves_by_the_offset_both_ways() -> None:
    assert "date -u -s @$(( $(date +%s) + (3600) ))" in commands.clock_skew(3600)
    assert "+ (-3600)" in commands.clock_skew(-3600)


def test_write_file_survives_any_bytes() -> None:
    data = b"A=\"b c\"\n'quote' $(x) \x00"
    text = commands.write_file("/run/first-boot-automation/env", data)
    encoded = re.search(r"printf %s (\S+) \|", text)
    assert encoded and base64.b64decode(encoded.group(1).strip("'")) == data
    assert "mv -f /run/first-boot-automation/env.fba-tmp /run/first-boot-automation/env" in text
    with pytest.raises(HarnessError):
        commands.write_file("/x", b"", mode="u+rwx")


def test_env_file_round_trip_and_merge() -> None:
    current = 'FBA_FAILPOINTS="join.after-add=crash"\n# note\nFBA_JOIN_MAX_ATTEMPTS=2\nQ="a \\"b\\""\n'
    assert commands.parse_env(current) == {
        "FBA_FAILPOINTS": "join.after-add=crash",
        "FBA_JOIN_MAX_ATTEMPTS": "2",
        "Q": 'a "b"',
    }
    merged = commands.merge_env(current, {"FBA_FAILPOINTS": None, "FBA_HEALTH_TIMEOUT_S": "8"})
    assert commands.parse_env(merged.decode()) == {
        "FBA_JOIN_MAX_ATTEMPTS": "2",
        "Q": 'a "b"',
        "FBA_HEALTH_TIMEOUT_S": "8",
    }
    with pytest.raises(HarnessError, match="newline"):
        commands.render_env({"A": "x\ny"})
    with pytest.raises(HarnessError, match="shell-style"):
        commands.render_env({"A-B": "x"})


def test_failpoint_spec_checks_names_against_the_spec() -> None:
    assert commands.failpoint_spec({"join.after-add": "crash", "iam.before-marker": "exit:1"}) == (
        "join.after-add=crash,iam.before-marker=exit:1"
    )
    with pytest.raises(HarnessError, match="unknown"):
        commands.failpoint_spec({"join.nope": "crash"})
    assert commands.clear_fired_failpoints() == "rm -f /run/first-boot-automation/failpoints.fired"


def test_userspace_origin() -> None:
    assert commands.userspace_origin("120.50\n3500000\n", now=200.0) == 83.0
    with pytest.raises(HarnessError, match="uptime"):
        commands.userspace_origin("garbage", now=1.0)
