"""Node guards and attach info, without starting QEMU."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from harness.errors import NodeStateError, UnsupportedVerb
from harness.machine.config import NodeConfig
from harness.machine.console import Console
from harness.machine.node import UNSUPPORTED_VERBS, Node
from harness.machine.qemu import DirectBoot
from harness.machine.ssh import CommandResult, SshKey
from harness.parity import DRIVER_MACHINE_VERBS


def node(tmp_path: Path, **kw: object) -> Node:
    cfg = NodeConfig(name="node01", state_dir=tmp_path / "n1", boot=DirectBoot(Path("/k"), Path("/i")), **kw)  # type: ignore[arg-type]
    return Node(cfg)


def test_stopped_node_guards(tmp_path: Path) -> None:
    n = node(tmp_path)
    assert not n.booted and not n.is_up() and n.pid is None
    with pytest.raises(NodeStateError, match="QEMU is not running; start\\(\\) it first"):
        n.send_monitor_command("info status")
    with pytest.raises(NodeStateError, match="no network fabric attached; block\\(\\) needs one"):
        n.block()
    with pytest.raises(NodeStateError, match="no ready_pattern configured"):
        n.wait_for_ready()
    # Idempotent on a stopped node: each returns at once and starts nothing (a start would
    # have made the state directory).
    n.crash()
    n.shutdown()
    n.wait_for_shutdown()
    assert not n.booted and n.pid is None and n.qmp_socket is None
    assert not (tmp_path / "n1").exists()


def test_every_driver_verb_exists() -> None:
    assert [v for v in DRIVER_MACHINE_VERBS if not callable(getattr(Node, v, None))] == []


@pytest.mark.parametrize("verb", sorted(UNSUPPORTED_VERBS))
def test_unsupported_verbs_raise_one_line_naming_themselves(tmp_path: Path, verb: str) -> None:
    method = getattr(node(tmp_path), verb)
    required = [p for p in inspect.signature(method).parameters.values() if p.default is inspect.Parameter.empty]
    with pytest.raises(UnsupportedVerb) as info:
        method(*["1"] * len(required))
    text = str(info.value)
    assert text.startswith(f"node01.{verb}: not supported by this harness; ") and "\n" not in text


def test_gui_verbs_say_what_to_use_instead(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedVerb, match="send_console types on the serial console"):
        node(tmp_path).send_key("ret")
    with pytest.raises(UnsupportedVerb, match="wait_for_console_text reads the serial console"):
        node(tmp_path).wait_for_text("x")


def test_attach_commands(tmp_path: Path) -> None:
    n = node(tmp_path, ssh_port=2201, ssh_key=SshKey.generate(), launch_prefix=("ip", "netns", "exec", "fba-1-abc"))
    (tmp_path / "n1").mkdir()
    info = n.attach_commands()
    assert info["ssh"].startswith("ip netns exec fba-1-abc ssh -i ")
    assert info["ssh"].endswith("-p 2201 root@127.0.0.1")
    assert info["console"].endswith("n1/console.log")
    assert (tmp_path / "n1" / "id_ed25519").stat().st_mode & 0o777 == 0o600


def test_get_console_log_starts_fresh_at_each_start(tmp_path: Path) -> None:
    """start() marks the console (Node.start calls console.mark()); get_console_log returns
    only what came after, while console.log keeps every boot."""
    n = node(tmp_path)
    (tmp_path / "n1").mkdir()
    log = tmp_path / "n1/console.log"
    log.write_text("first boot\n")
    n.console = Console(log)
    n.console.mark()  # what start() does
    with log.open("a") as f:
        f.write("second boot\n")
    assert n.get_console_log() == "second boot\n"
    assert "first boot" in log.read_text()


class _Running:
    pid = 4242

    def poll(self) -> None:
        return None


class _Qmp:
    def __init__(self) -> None:
        self.events = [{"event": "RESUME", "data": {}}, {"event": "STOP", "data": {}}]

    def human_monitor_command(self, command: str) -> str:
        return "VM status: running\r\n" if command == "info status" else ""

    def wait_for_event(self, event_filter: object, *, timeout: float) -> dict[str, object]:
        assert callable(event_filter) and timeout == 600
        return next(e for e in self.events if event_filter(e))


def test_monitor_and_qmp_event_answer_like_the_driver(tmp_path: Path) -> None:
    n = node(tmp_path)
    n._proc, n._qmp = _Running(), _Qmp()  # type: ignore[assignment]
    checks: list[int] = []
    n.before_command.append(lambda: checks.append(1))
    assert "running" in n.send_monitor_command("info status")
    assert checks == [1], "polling conditions are checked before a monitor command, as in the driver"
    assert n.wait_for_qmp_event(lambda e: e["event"] == "STOP") == {"event": "STOP", "data": {}}


def test_connect_starts_a_stopped_node_and_returns_once_a_command_ran(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    n = node(tmp_path)
    seen: list[str] = []

    def run(command: str, _timeout: float) -> CommandResult:
        seen.append(command)
        return CommandResult(0, "", "", 0.0)

    monkeypatch.setattr(n, "_ensure_started", lambda: seen.append("start"))
    monkeypatch.setattr(n, "_run", run)
    n.connect()
    assert seen == ["start", "set -euo pipefail; true"]


def test_reboot_is_a_clean_power_off_then_a_start_with_the_same_allow_reboot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not the driver's Ctrl+Alt+Delete: a fresh QEMU, so it works without allow_reboot too."""
    n = node(tmp_path)
    calls: list[str] = []
    monkeypatch.setattr(n, "shutdown", lambda: calls.append("shutdown"))
    monkeypatch.setattr(n, "start", lambda allow_reboot=False: calls.append(f"start allow_reboot={allow_reboot}"))
    n._allow_reboot = True  # what start(allow_reboot=True) records
    n.reboot()
    n._allow_reboot = False
    n.reboot()
    assert calls == ["shutdown", "start allow_reboot=True", "shutdown", "start allow_reboot=False"]
