"""Node guards and attach info, without starting QEMU."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import NodeStateError
from harness.machine.config import NodeConfig
from harness.machine.node import Node
from harness.machine.qemu import DirectBoot
from harness.machine.ssh import SshKey


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


@pytest.mark.parametrize(
    "verb", ["screenshot", "get_screen_text", "wait_for_text", "send_key", "send_chars", "wait_for_x",
             "wait_for_window", "get_tty_text", "wait_until_tty_matches", "get_screen_text_variants"],
)  # fmt: skip
def test_gui_verbs_name_themselves(tmp_path: Path, verb: str) -> None:
    method = getattr(node(tmp_path), verb)
    args = {
        "screenshot": ("x",),
        "wait_for_text": ("x",),
        "send_key": ("x",),
        "send_chars": ("x",),
        "wait_for_window": ("x",),
        "get_tty_text": ("1",),
        "wait_until_tty_matches": ("1", "x"),
    }
    with pytest.raises(NotImplementedError, match=f"^{verb}: nodes run without a display"):
        method(*args.get(verb, ()))


def test_attach_commands(tmp_path: Path) -> None:
    n = node(tmp_path, ssh_port=2201, ssh_key=SshKey.generate(), launch_prefix=("ip", "netns", "exec", "fba-1-abc"))
    (tmp_path / "n1").mkdir()
    info = n.attach_commands()
    assert info["ssh"].startswith("ip netns exec fba-1-abc ssh -i ")
    assert info["ssh"].endswith("-p 2201 root@127.0.0.1")
    assert info["console"].endswith("n1/console.log")
    assert (tmp_path / "n1" / "id_ed25519").stat().st_mode & 0o777 == 0o600
