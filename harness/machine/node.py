"""`Node`: one QEMU guest with the NixOS test driver's verbs.

A facade: lifecycle here; guest commands in `commands.py`; systemd verbs in `units.py`; the
driver verbs we lack in `unsupported.py`; QMP, console and SSH in their own modules. Names,
signatures and defaults follow the driver (see docs/harness-api.md), so a driver
`testScript` runs unchanged; every wait is bounded and a command on a stopped node starts
it, as in the driver.

```python
node = Node(NodeConfig(name="node01", state_dir=tmp / "node01", boot=direct_boot(image),
                       ssh_port=2201, ssh_key=SshKey.generate()))
node.start()
node.wait_for_unit("multi-user.target", timeout=120)
node.crash()
```
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any

from harness.errors import InfrastructureError, NodeStateError, WaitTimeout
from harness.log import NodeLog
from harness.machine import reaper, snapshot
from harness.machine.config import LinkControl, NodeConfig, SocketFactory
from harness.machine.console import Console
from harness.machine.process import die_with_parent, stop_process
from harness.machine.qemu import build_argv
from harness.machine.qmp import QmpSession
from harness.machine.snapshot import SavedState
from harness.machine.ssh import CommandResult, SshSession, relay_stderr, tcp_connect
from harness.machine.units import UnitVerbs
from harness.machine.unsupported import UNSUPPORTED_VERBS, UnsupportedVerbs
from harness.waits import Clock, Duration, Observation, Sleep, tail

__all__ = ["Node", "NodeState", "SHUTDOWN_TIMEOUT", "UNSUPPORTED_VERBS"]

SHUTDOWN_TIMEOUT = 60.0
"""Clean power-off budget before `shutdown()` pulls the plug (QEMU quit, then SIGKILL)."""


class NodeState(StrEnum):
    """Where a node's QEMU is in its life (`Node.state`), modelled on qemu.qmp's `Runstate`:
    one field, changed only through `Node._to`, which refuses a step `_LIFECYCLE` lacks."""

    NOT_STARTED = "not started"
    STARTING = "starting"  # QEMU launched, QMP not answering yet
    RUNNING = "running"  # QEMU runs and QMP answered (the guest may still be booting)
    STOPPING = "stopping"  # shutdown() or a teardown is under way
    STOPPED = "stopped"  # stopped by the harness, everything released
    # Not "crashed": a guest that powers itself off (then `wait_for_shutdown`) ends here too,
    # as do a panic or reboot under -no-reboot and a kill from outside.
    EXITED = "exited"  # QEMU ended without the harness asking; not yet released


_LIFECYCLE: dict[NodeState, frozenset[NodeState]] = {
    NodeState.NOT_STARTED: frozenset({NodeState.STARTING}),
    NodeState.STARTING: frozenset({NodeState.RUNNING, NodeState.STOPPING, NodeState.EXITED}),
    NodeState.RUNNING: frozenset({NodeState.STOPPING, NodeState.EXITED}),
    NodeState.STOPPING: frozenset({NodeState.STOPPED}),
    NodeState.EXITED: frozenset({NodeState.STOPPING}),
    NodeState.STOPPED: frozenset({NodeState.STARTING}),
}
"""The steps a node's state may take; anything else is a harness bug (`Node._to` raises)."""


class Node(UnitVerbs, UnsupportedVerbs):
    """One guest. Not thread-safe per node; different nodes may be driven from threads."""

    def __init__(
        self,
        config: NodeConfig,
        *,
        log: NodeLog | None = None,
        link: LinkControl | None = None,
        sock_factory: SocketFactory = tcp_connect,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
        deadline_cap: float | None = None,
        out_dir: Path | None = None,
    ) -> None:
        super().__init__(config.name, log=log, clock=clock, sleep=sleep, deadline_cap=deadline_cap,
                         out_dir=out_dir or config.state_dir / "out")  # fmt: skip
        self.config = config
        self.link = link
        self._sock_factory = sock_factory
        self._proc: subprocess.Popen[bytes] | None = None
        self._qmp: QmpSession | None = None
        self._ssh: SshSession | None = None
        self._sock_dir: Path | None = None
        self._allow_reboot = False
        self._token = 0
        self._state = NodeState.NOT_STARTED  # only `_to` assigns it
        self._restore_pending = config.restore is not None  # only the first start restores
        self.console = Console(config.state_dir / "console.log")
        self.started_at: float | None = None
        """Clock value when QEMU was last started (boot timings, the slowness factor)."""

    # -- state --------------------------------------------------------------------------
    @property
    def state(self) -> NodeState:
        """Where QEMU is in its life. A QEMU that ended by itself is noticed here: STARTING or
        RUNNING becomes EXITED."""
        if self._state in (NodeState.STARTING, NodeState.RUNNING) and not self.booted:
            self._to(NodeState.EXITED)
        return self._state

    def _to(self, new: NodeState) -> None:
        """The one place the state changes: a step `_LIFECYCLE` lacks is a harness bug."""
        if new is self._state:
            return
        if new not in _LIFECYCLE[self._state]:
            raise NodeStateError(f"{self.name}: cannot go from {self._state} to {new} (a harness bug)")
        self._state = new

    def _not_running(self, verb: str) -> NodeStateError:
        """The error for `verb` on a node without a working QEMU: what happened, and the fix."""
        state, start = self.state, f"{self.name}.start()"
        if state is NodeState.RUNNING:  # QEMU runs, but its session is gone
            return NodeStateError(f"{self.name}.{verb}: QMP was closed by release() (the node is kept); "
                                  "use its `qmp` attach command")  # fmt: skip
        rc = self._proc.returncode if self._proc is not None else "?"
        why = {
            NodeState.NOT_STARTED: f"it was never started: call {start}",
            NodeState.STARTING: f"QMP does not answer yet: wait for {start} to return",
            NodeState.STOPPING: f"it is being stopped: call {start} once shutdown() or crash() has returned",
            NodeState.STOPPED: f"shutdown() or crash() stopped it: call {start} to boot it again",
            NodeState.EXITED: f"QEMU exited by itself with rc {rc}, {self.console.log_path} says why: "
                              f"call {start} to boot it again",
        }[state]  # fmt: skip
        return NodeStateError(f"{self.name}.{verb}: QEMU is not running; start() it first ({why})")

    @property
    def booted(self) -> bool:
        """True while the QEMU process runs (the driver's `booted`)."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def qmp_socket(self) -> Path | None:
        return self._sock_dir / "qmp.sock" if self._sock_dir else None

    def is_up(self) -> bool:
        """True if QEMU runs and an SSH session is established (does not connect).

        Parity:
            Driver: booted and connected to the backdoor shell
            Ours: QEMU runs and an SSH session is established (does not connect)
            Tests: test_stopped_node_guards, test_succeed_and_unit_verbs, nixos_driver_low_level
        """
        return self.booted and self._ssh is not None and self._ssh.alive

    def _ensure_started(self) -> None:
        if not self.booted:
            self.start()

    # -- lifecycle ------------------------------------------------------------------------
    def start(self, allow_reboot: bool = False) -> None:
        """Start QEMU (returns once QMP answers, not when the guest has booted).

        `allow_reboot=False` (the driver's default) makes a guest reboot end QEMU.

        Raises:
            InfrastructureError: QEMU would not start (message quotes its stderr).

        Parity:
            Driver: starts QEMU and returns once the monitor prompt answers (the boot goes on);
                `allow_reboot=False` adds `-no-reboot`
            Ours: the same, returning once QMP answers; `allow_reboot=False` adds `-no-reboot`, so a guest
                reboot ends QEMU; a QEMU that will not start is an `InfrastructureError` quoting its stderr
            Tests: test_boot_console_qmp_crash_and_teardown, test_tcg_direct_boot_defaults,
                test_kvm_and_allow_reboot, raft_crash, nixos_driver_console_log, nfs_lock
        """
        if self.booted:
            return
        self._reap()
        cfg = self.config
        cfg.state_dir.mkdir(parents=True, exist_ok=True)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        # Unix socket paths are limited to 108 bytes; test dirs are often longer.
        self._sock_dir = Path(tempfile.mkdtemp(prefix=f"fba-{cfg.name[:12]}-", dir="/tmp"))
        restoring, self._restore_pending = self._restore_pending, False
        spec = cfg.qemu_spec(allow_reboot=allow_reboot, sock_dir=self._sock_dir, restoring=restoring)
        self.console = Console(spec.serial_log, spec.serial_socket)
        self.console.mark()
        self.started_at = self._clock()
        argv = [*cfg.launch_prefix, *build_argv(spec)]
        self._allow_reboot = allow_reboot
        with self.nested("starting vm", {"argv": " ".join(argv)}):
            qemu_log = (cfg.state_dir / "qemu.log").open("ab")
            try:
                self._proc = subprocess.Popen(  # argv list, no shell
                    argv, stdin=subprocess.DEVNULL, stdout=qemu_log, stderr=qemu_log,
                    start_new_session=True,  # a Ctrl-C to the test reaches us, not QEMU
                    # A SIGKILLed harness leaves no QEMU running, unless the node may be kept.
                    preexec_fn=None if cfg.outlive_parent else die_with_parent(),
                )  # fmt: skip
            except OSError as err:
                raise InfrastructureError(f"{cfg.name}: cannot run {argv[0]}: {err}") from err
            finally:
                qemu_log.close()
            self._to(NodeState.STARTING)
            self._token = reaper.register(f"node {cfg.name}", self._reap)
            try:
                self._qmp = QmpSession.connect(spec.qmp_socket, timeout=15, name=cfg.name)
            except WaitTimeout as err:
                self._check_alive()
                self.crash()
                raise InfrastructureError(f"{cfg.name}: QEMU started but QMP is silent: {err}") \
                    from err  # fmt: skip
            self._to(NodeState.RUNNING)
            self.log(f"QEMU running, pid {self._proc.pid}, accel {cfg.accel}")

    def _check_alive(self) -> None:
        """Raise at once if QEMU has exited: waiting for a dead guest only burns the budget."""
        if self._proc is not None and self._proc.poll() is not None:
            qemu_log = self.config.state_dir / "qemu.log"
            stderr = qemu_log.read_text(errors="replace") if qemu_log.exists() else ""
            raise InfrastructureError(
                f"{self.name}: QEMU exited with rc {self._proc.returncode}; stderr:\n"
                f"{tail(stderr, 10)}\nconsole:\n{tail(self.console.text(), 20)}"
            )

    def _reap(self) -> None:
        """Release everything of a previous run of this node (idempotent, bounded): QEMU,
        the sessions, the socket directory, the reaper registration; each even when one
        before it failed.

        Raises:
            TeardownError: a part failed or QEMU survived SIGKILL (the rest was released).
        """
        steps = reaper.Teardown(f"{self.name}: stop")
        if self._state in (NodeState.STARTING, NodeState.RUNNING, NodeState.EXITED):
            self._to(NodeState.STOPPING)
        # Each reference is dropped before its part runs, so a second call never retries a
        # half-released part: idempotent even after a failure. QEMU goes first: sessions to
        # a dead QEMU close at once, to a live one they may wait for its goodbye.
        proc, self._proc = self._proc, None
        if proc is not None:
            steps.run("QEMU", functools.partial(_stop_qemu, proc))
        self._close_sessions(steps)
        sock_dir, self._sock_dir = self._sock_dir, None
        if sock_dir is not None:
            shutil.rmtree(sock_dir, ignore_errors=True)
        steps.run("reaper registration", self._unregister)
        if self._state is NodeState.STOPPING:  # every part was tried: nothing is left to retry
            self._to(NodeState.STOPPED)
        steps.finish()

    def _close_sessions(self, steps: reaper.Teardown) -> None:
        """Close the SSH and QMP sessions (each dropped even if its close fails)."""
        ssh, self._ssh = self._ssh, None
        if ssh is not None:
            steps.run("SSH session", ssh.close)
        qmp, self._qmp = self._qmp, None
        if qmp is not None:
            steps.run("QMP session", qmp.close)

    def _unregister(self) -> None:
        reaper.unregister(self._token)
        self._token = 0

    def release(self) -> None:
        """Let this node's QEMU outlive this process (`--keep`): it keeps running (`booted`
        stays true, `attach_commands()` still name its sockets) and `crash()` can still stop it.

        Forgets the reaper registration, whose atexit handler would otherwise stop QEMU the
        moment the process exits, and closes the QMP and SSH sessions: left open, their
        threads die with the interpreter and print tracebacks after the attach commands.
        Idempotent and safe in any state; every step runs even when one before failed.

        Raises:
            TeardownError: a session would not close (the other steps were done).
        """
        steps = reaper.Teardown(f"{self.name}: release")
        steps.run("reaper registration", self._unregister)
        self._close_sessions(steps)
        steps.finish()

    def wait_for_shutdown(self, timeout: Duration | None = None) -> None:
        """Wait until the QEMU process has exited, then release its resources.

        Raises:
            WaitExpired: still running after `timeout` (None = the global budget, capped by
                the run deadline; the driver waits forever here).

        Parity:
            Driver: waits for the QEMU process to exit, without a bound; returns at once if not booted
            Ours: the same, bounded by `timeout` (None = the global budget, capped by the run deadline), then
                releases QMP, SSH and the sockets
            Tests: test_guest_poweroff_ends_qemu_and_restart_appends_console, test_stopped_node_guards,
                nixos_driver_power
        """
        if self._proc is None:
            return
        proc = self._proc
        with self.nested("waiting for the VM to power off"):
            self._wait(lambda _left: Observation(ok=proc.poll() is not None,
                                                 detail="QEMU still running"),
                       "QEMU to exit", timeout)  # fmt: skip
        self._reap()

    def shutdown(self) -> None:
        """Power off cleanly (`systemctl poweroff`, else ACPI), pulling the plug after
        `SHUTDOWN_TIMEOUT`. Always returns with QEMU gone.

        Parity:
            Driver: `poweroff` on the backdoor shell, then waits for QEMU to exit, without a bound
            Ours: `systemctl poweroff` over SSH (ACPI power-down when SSH is down), waits `SHUTDOWN_TIMEOUT`
                (60 s), then pulls the plug; always ends with QEMU gone
            Tests: test_clean_shutdown_is_quick_and_leaves_nothing, test_stopped_node_guards, simple,
                nixos_driver_power, nixos_driver_console_log
        """
        if not self.booted:
            self._reap()
            return
        self._to(NodeState.STOPPING)
        with self.nested("shutting down"):
            try:
                if self._ssh is not None and self._ssh.alive:
                    self._ssh.run("systemctl --no-block poweroff", timeout=5)
                elif self._qmp is not None:
                    self._qmp.system_powerdown()
                self.wait_for_shutdown(SHUTDOWN_TIMEOUT)
            except (WaitTimeout, InfrastructureError) as err:
                self.log(f"clean power-off failed ({err}); pulling the plug")
                self.crash()

    def crash(self) -> None:
        """Simulate a sudden power failure: QEMU quits at once, no guest shutdown.

        Parity:
            Driver: HMP `quit`, then waits for QEMU to exit
            Ours: QMP `quit`, then a bounded kill (SIGTERM, 2 s, SIGKILL): a power failure;
                every part is released even when one fails, then `TeardownError` names the failures
            Tests: test_boot_console_qmp_crash_and_teardown, test_stopped_node_guards, raft_crash,
                test_crash_stops_qemu_and_releases_the_rest_even_when_a_session_fails, nixos_driver_power, nfs_lock
        """
        with self.nested("crashing (QEMU quit)"):
            try:
                if self._qmp is not None and self.booted:
                    self._qmp.quit()
            finally:  # QMP's answer does not matter: _reap stops QEMU either way
                self._reap()

    def reboot(self) -> None:
        """Clean power-off then a fresh start with the same disk and inputs.

        A restarted QEMU is a reboot from the guest's view (firmware, kernel, initrd again)
        and works the same with or without `allow_reboot`.

        Parity:
            Driver: Ctrl+Alt+Delete through `send_key`; the guest comes back in the same QEMU only if it was
                started with `allow_reboot=True`
            Ours: a clean power-off (`shutdown()`) and a fresh QEMU with the same disk, inputs and
                `allow_reboot`: a reboot from the guest's view, with or without `allow_reboot`
            Tests: test_reboot_is_a_clean_power_off_then_a_start_with_the_same_allow_reboot
        """
        with self.nested("rebooting"):
            allow = self._allow_reboot
            self.shutdown()
            self.start(allow_reboot=allow)

    def wait_for_console_text(
        self,
        regex: str | re.Pattern[str],
        timeout: Duration | None = None,
        *,
        fatal: str | re.Pattern[str] | None = None,
    ) -> None:
        """Wait for `regex` on the serial console (output since the last match/start).

        Raises:
            WaitExpired: not seen within `timeout` (None = 900 s); shows the last lines.
            ConsoleFatal: `fatal` matched first (e.g. a kernel panic): no point waiting.
            InfrastructureError: QEMU exited meanwhile (raised at once, not at the deadline).

        Parity:
            Driver: matches `regex` against console lines no earlier wait consumed; `timeout=None` waits
                without a bound
            Ours: consumes matches (output since the last match or `start()`); `timeout=None` is 900 s; fails
                at once if QEMU exits or `fatal` matches (e.g. a kernel panic)
            Tests: test_console_wait_consumes_matches, test_console_timeout_none_is_bounded_and_shows_tail,
                test_console_fatal_line_fails_at_once, test_console_precheck_aborts_the_wait,
                test_boot_console_qmp_crash_and_teardown, nixos_driver_console_timeout
        """
        shown = regex.pattern if isinstance(regex, re.Pattern) else regex
        with self.nested(f"waiting for {shown!r} on the console"):
            try:
                self.console.wait_for_text(
                    regex, timeout, clock=self._clock, sleep=self._sleep,
                    deadline_cap=self.deadline_cap, fatal=fatal, precheck=self._check_alive,
                )  # fmt: skip
            except WaitTimeout:
                self._check_alive()
                raise

    def wait_for_ready(self, timeout: Duration | None = None) -> None:
        """Wait for the image's readiness line (`NodeConfig.ready_pattern`) on serial."""
        pattern = self.config.ready_pattern
        if pattern is None:
            raise NodeStateError(f"{self.name}: no ready_pattern configured; pass one")
        budget = self.config.boot_timeout if timeout is None else timeout
        self.wait_for_console_text(pattern, budget, fatal=self.config.fatal_pattern)

    def get_console_log(self) -> str:
        """The serial console output since the last `start()` (as the driver: "since boot";
        every boot is kept in `state_dir/console.log`).

        Parity:
            Driver: console lines since the last `start()`
            Ours: console output since the last `start()` (`console.log` keeps every boot)
            Tests: test_get_console_log_starts_fresh_at_each_start, driver_parity, nixos_driver_console_log
        """
        return self.console.since_mark()

    def send_console(self, chars: str) -> None:
        """Type `chars` on the serial console.

        Parity:
            Driver: writes `chars` to QEMU's stdin (the serial console)
            Ours: writes `chars` to the serial console socket; `NodeStateError` before `start()`
            Tests: test_console_missing_log_and_send_without_socket, test_boot_console_qmp_crash_and_teardown
        """
        self.console.send(chars)

    def attach_commands(self) -> dict[str, str]:
        """How a human reaches this node while it runs (for `--keep`): ssh, QMP, console.

        Writes the private key to `state_dir/id_ed25519` (0600) for the ssh command.
        """
        cfg = self.config
        info = {"console": str(cfg.state_dir / "console.log")}
        prefix = " ".join(cfg.launch_prefix)
        if self.qmp_socket is not None:
            info["qmp"] = f"socat - UNIX-CONNECT:{self.qmp_socket}"
            info["serial"] = f"socat -,raw,echo=0 UNIX-CONNECT:{self.qmp_socket.parent / 'serial.sock'}"
        if cfg.ssh_key is not None and cfg.ssh_port is not None:
            key = cfg.ssh_key.write(cfg.state_dir / "id_ed25519")
            ssh = (
                f"ssh -i {key} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
                f"-p {cfg.ssh_port} {cfg.ssh_user}@{cfg.ssh_host}"
            )
            info["ssh"] = f"{prefix} {ssh}".strip()
        return info

    # -- transport --------------------------------------------------------------------------
    def _session(self, timeout: float) -> SshSession:
        if self._ssh is not None and self._ssh.alive:
            return self._ssh
        cfg = self.config
        if cfg.ssh_port is None or cfg.ssh_key is None:
            raise NodeStateError(f"{self.name}: no ssh_port/ssh_key configured; commands need SSH")
        self._ssh = SshSession.connect(
            cfg.ssh_host, cfg.ssh_port, cfg.ssh_key, user=cfg.ssh_user, name=cfg.name,
            timeout=min(timeout, cfg.boot_timeout), sock_factory=self._sock_factory,
            precheck=self._check_alive,
        )  # fmt: skip
        return self._ssh

    def _run(self, command: str, timeout: float) -> CommandResult:
        begin = time.monotonic()
        session = self._session(timeout)
        left = max(0.5, timeout - (time.monotonic() - begin))
        # Background children (`server >&2 &`) must survive the channel close: see relay_stderr.
        return session.run(relay_stderr(command), timeout=left)

    def _upload(self, local: Path, remote: str) -> None:
        self._session(self._budget(None)).put(local, remote)

    def _download(self, remote: str, local: Path) -> None:
        self._session(self._budget(None)).get(remote, local)

    def connect(self) -> None:
        """Wait until the guest answers commands (the driver's `connect`): start, then SSH.

        Parity:
            Driver: starts the machine and waits for the backdoor shell's greeting, without a bound
            Ours: starts the node and runs `true` over SSH: returns once the guest answers commands, bounded
                like `succeed`
            Tests: test_connect_starts_a_stopped_node_and_returns_once_a_command_ran
        """
        self.succeed("true")

    # -- saved state (issue 16: snapshots) ----------------------------------------------
    def save_state(self, directory: Path, *, timeout: Duration = 120) -> SavedState:
        """Pause the guest and save its RAM, devices and disk into `directory`
        (`harness.machine.snapshot`); the guest stays paused: `resume()` goes on with it,
        `crash()` ends it. A copy is a new node whose config has `restore=saved` and a disk
        from `snapshot.overlay_disk`: its first `start()` loads the save, paused until `resume()`.

        Raises:
            NodeStateError: QEMU is not running.
            WaitExpired: the save did not end within `timeout` seconds.
            InfrastructureError: QEMU or the disk copy failed (nothing half-written is left
                where `SavedState.at` would take it).
        """
        qmp = self._qmp_session("save_state")
        with self.nested(f"saving the guest state to {directory}"):
            saved = snapshot.save_state(qmp, directory, disk=self.config.disk, timeout=self._budget(timeout),
                                        clock=self._clock, sleep=self._sleep)  # fmt: skip
            self.log(f"saved: {saved.state_bytes / 2**20:.1f} MiB state in {saved.seconds:.1f} s")
            return saved

    def resume(self, *, timeout: Duration = 60) -> None:
        """Run the guest again: after `save_state`, or once a restored QEMU has loaded its
        saved state (it starts paused, so that several nodes resume together).

        Raises:
            NodeStateError: QEMU is not running.
            WaitExpired: a restored QEMU did not load its state within `timeout` seconds.
            InfrastructureError: loading the state failed (qemu.log says why).
        """
        qmp = self._qmp_session("resume")
        with self.nested("resuming the guest"):
            snapshot.resume(qmp, timeout=self._budget(timeout), clock=self._clock, sleep=self._sleep)

    # -- QMP and network ----------------------------------------------------------------
    def _qmp_session(self, verb: str = "qmp") -> QmpSession:
        if self._qmp is None or not self.booted:
            raise self._not_running(verb)
        return self._qmp

    @property
    def qmp(self) -> QmpSession:
        """The QMP session (stop/cont/query_status/...) of the running QEMU."""
        return self._qmp_session()

    def send_monitor_command(self, command: str) -> str:
        """Run an HMP monitor command (through QMP) and return its output text, e.g.
        `"VM status: running"` for `info status` (the driver returns the same text followed
        by the `(qemu) ` prompt). Polling conditions are checked first, as in the driver.

        Raises:
            NodeStateError: QEMU is not running.
            WaitTimeout: QEMU did not answer within 10 s (frozen or gone).

        Parity:
            Driver: HMP over its monitor socket, polling conditions first; the text up to and including the
                `(qemu) ` prompt
            Ours: HMP through QMP, polling conditions first; the text without the prompt
            Tests: test_monitor_and_qmp_event_answer_like_the_driver,
                test_boot_console_qmp_crash_and_teardown, driver_parity, nixos_driver_low_level
        """
        self.run_callbacks()
        with self.nested(f"sending monitor command: {command}"):
            return self._qmp_session("send_monitor_command").human_monitor_command(command)

    def wait_for_qmp_event(
        self, event_filter: Mapping[str, Any] | Callable[[dict[str, Any]], bool],
        timeout: Duration = 600,
    ) -> dict[str, Any]:  # fmt: skip
        """The first QMP event received (since start) matching `event_filter`, which is a
        predicate on the event dict (the driver's form) or a dict subset; consumed, so the
        next call waits for a new one. Returns the event as QEMU sent it:
        `{"event": "STOP", "data": {...}, "timestamp": {"seconds": ..., "microseconds": ...}}`.

        Raises:
            NodeStateError: QEMU is not running.
            WaitExpired: no such event within `timeout` seconds (the driver: TimeoutError).

        Parity:
            Driver: a predicate over event dicts, skipping events that do not match; `TimeoutError`
            Ours: a predicate or a dict subset; the event dict (consumed); `WaitExpired`
            Tests: test_monitor_and_qmp_event_answer_like_the_driver, test_event_filters,
                test_boot_console_qmp_crash_and_teardown
        """
        with self.nested(f"waiting for QMP event {event_filter!r}"):
            return self._qmp_session("wait_for_qmp_event").wait_for_event(event_filter, timeout=timeout)

    def block(self) -> None:
        """Cut this node's cluster link at the host bridge (frames dropped both ways).

        Parity:
            Driver: HMP `set_link virtio-net-pci.1 off`: the second NIC's link goes down, the first stays up
            Ours: cuts the cluster link at the host bridge (nftables, frames dropped both ways); the SSH user
                NIC stays up; needs a `link` (the fabric), else `NodeStateError`
            Tests: test_block_and_unblock_cut_the_cluster_link, test_stopped_node_guards, partition,
                nixos_driver_networking, failover
        """
        if self.link is None:
            raise NodeStateError(f"{self.name}: no network fabric attached; block() needs one")
        with self.nested("blocking the cluster link"):
            self.link.block(self.name)

    def unblock(self) -> None:
        """Restore this node's cluster link (idempotent).

        Parity:
            Driver: HMP `set_link virtio-net-pci.1 on`
            Ours: restores the cluster link (idempotent)
            Tests: test_block_and_unblock_cut_the_cluster_link, partition, nixos_driver_networking, failover
        """
        if self.link is None:
            raise NodeStateError(f"{self.name}: no network fabric attached; unblock() needs one")
        with self.nested("unblocking the cluster link"):
            self.link.unblock(self.name)

    def __repr__(self) -> str:
        return f"<Node {self.name} {self.state}>"


def _stop_qemu(proc: subprocess.Popen[bytes]) -> None:
    """Stop QEMU within `stop_process`'s bound; one that even SIGKILL does not end is an error
    to report (it may still hold its disk), not a reason to wait longer."""
    if stop_process(proc, grace=2.0) is None:
        raise InfrastructureError(f"pid {proc.pid} survived SIGKILL (stuck in the kernel?)")
