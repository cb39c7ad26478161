"""Guest commands over SSH (paramiko): per-run keys, bounded connect, bounded commands.

Deadlines everywhere: the TCP connect, banner, auth, opening the channel, and the command
itself (the channel is polled with `select` and closed at the deadline, partial output
kept in `CommandTimeout`). A command returns once its exit status is in, after a short
drain, even if a background child still holds stdout open (the driver blocks forever there).

The socket comes from a factory so the harness can dial into a network namespace.
"""

from __future__ import annotations

import contextlib
import io
import logging
import select
import shlex
import socket
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from harness.errors import CommandTimeout, GuestUnreachable, InfrastructureError, WaitTimeout
from harness.waits import Duration, Observation, seconds, wait_until

__all__ = ["CommandResult", "SshKey", "SshSession", "SocketFactory", "STDERR_LOG", "detached",
           "relay_stderr", "sftp_get_tree", "sftp_put_tree", "tcp_connect"]  # fmt: skip

SocketFactory = Callable[[str, int, float], socket.socket]

# paramiko's transport thread logs a traceback when a connect attempt to a guest that is
# still booting fails (banner read on a closed socket); with no handler configured, Python
# prints it on the operator's terminal. The connect loop already reports the last error. Not
# propagated either: pytest's log capture printed ~200 lines of these banner tracebacks under
# one failing scenario in CI, burying its real error.
_PARAMIKO_LOG = logging.getLogger("paramiko")
_PARAMIKO_LOG.addHandler(logging.NullHandler())
_PARAMIKO_LOG.propagate = False
DRAIN_AFTER_EXIT = 0.2
"""Seconds to keep reading after the exit status arrives (output still in flight)."""


STDERR_LOG = "/run/fba-command-stderr.log"
"""Guest file that keeps what background children (and detached commands) write to stderr."""


def relay_stderr(command: str, *, log: str = STDERR_LOG) -> str:
    """`command` with its stderr passed through a relay that outlives the SSH channel.

    The driver's docs start servers with `succeed("server >&2 &")`: there, stderr is the
    backdoor shell's and stays open. Over SSH it is the channel, which we close once the
    shell has exited; a background child's next write to it would then die of SIGPIPE.
    So stderr goes through `tee -p` (which ignores SIGPIPE and keeps writing to its file
    when the channel is gone) into the channel *and* `STDERR_LOG`. Only stderr is relayed:
    stdout stays the channel itself, so what a foreground command prints is returned byte
    for byte, and a command that leaves a child holding stdout is, as in the driver, the
    script's mistake (the driver hangs; we return after the drain). We relay for every
    command rather than guess from the text whether it backgrounds (`&` inside quotes,
    `&&`, `>&2`...); a guest without GNU tee (busybox) runs the command unwrapped.
    """
    relay = f"exec 2> >(exec tee -p -a {shlex.quote(log)} >&2)"
    return f"if tee -p --version >/dev/null 2>&1; then {relay}; fi; {command}"


def detached(command: str) -> str:
    """`command` started in its own session with no tie to the channel (output to
    `STDERR_LOG`): the shell that runs this returns at once. For `execute(check_output=False)`,
    which in the driver does not wait for the command (e.g. one that powers the guest off)."""
    return f"setsid -f bash -c {shlex.quote(command)} </dev/null >>{STDERR_LOG} 2>&1"


class SftpLike(Protocol):
    """The part of `paramiko.SFTPClient` the tree copies use (a fake in unit tests)."""

    def stat(self, path: str) -> paramiko.SFTPAttributes: ...
    def listdir(self, path: str = ".") -> list[str]: ...
    def mkdir(self, path: str, mode: int = 0o777) -> None: ...
    def chmod(self, path: str, mode: int) -> None: ...
    def get(self, remotepath: str, localpath: str) -> None: ...
    def put(self, localpath: str, remotepath: str) -> paramiko.SFTPAttributes: ...


def sftp_put_tree(sftp: SftpLike, local: Path, remote: str) -> None:
    """Copy a host file or directory (recursively) to the guest path `remote`, keeping the
    permission bits (an executable script stays executable; SFTP put alone does not)."""
    mode = stat.S_IMODE(local.stat().st_mode)
    if local.is_dir():
        with contextlib.suppress(OSError):  # exists already: copy into it, as `cp -r` does
            sftp.mkdir(remote)
        for child in sorted(local.iterdir()):
            sftp_put_tree(sftp, child, f"{remote.rstrip('/')}/{child.name}")
    else:
        sftp.put(str(local), remote)
    sftp.chmod(remote, mode)


def sftp_get_tree(sftp: SftpLike, remote: str, local: Path) -> None:
    """Copy a guest file or directory (recursively, following symlinks) to host `local`,
    keeping the permission bits."""
    attrs = sftp.stat(remote)
    mode = stat.S_IMODE(attrs.st_mode or 0o644)
    if stat.S_ISDIR(attrs.st_mode or 0):
        local.mkdir(parents=True, exist_ok=True)
        for name in sorted(sftp.listdir(remote)):
            sftp_get_tree(sftp, f"{remote.rstrip('/')}/{name}", local / name)
    else:
        sftp.get(remote, str(local))
    local.chmod(mode | stat.S_IWUSR)  # stays writable for us: reports get cleaned up


def tcp_connect(host: str, port: int, timeout: float) -> socket.socket:
    """Plain TCP connect with a timeout (the default `SocketFactory`)."""
    return socket.create_connection((host, port), timeout=timeout)


@dataclass(frozen=True)
class CommandResult:
    """The outcome of one guest command."""

    rc: int
    stdout: str
    stderr: str
    duration: float

    @property
    def output(self) -> str:
        """stdout then stderr, for error messages."""
        return self.stdout + (("\n" + self.stderr) if self.stderr else "")


@dataclass(frozen=True)
class SshKey:
    """An ed25519 key pair generated for one run; never reused across runs."""

    private_openssh: str
    public_line: str

    @classmethod
    def generate(cls, comment: str = "fba-harness") -> SshKey:
        key = Ed25519PrivateKey.generate()
        private = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        ).decode()
        public = (
            key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
        )
        return cls(private, f"{public} {comment}")

    def pkey(self) -> paramiko.PKey:
        return paramiko.Ed25519Key.from_private_key(io.StringIO(self.private_openssh))

    def write(self, path: Path) -> Path:
        """Write the private key with mode 0600 (for `ssh -i` attach commands)."""
        path.write_text(self.private_openssh)
        path.chmod(stat.S_IRUSR | stat.S_IWUSR)
        path.with_suffix(".pub").write_text(self.public_line + "\n")
        return path


class SshSession:
    """One authenticated SSH connection to a guest."""

    def __init__(self, client: paramiko.SSHClient, label: str) -> None:
        self._client = client
        self.label = label

    @classmethod
    def connect(
        cls,
        host: str,
        port: int,
        key: SshKey,
        *,
        user: str = "root",
        timeout: Duration = 60,
        name: str | None = None,
        sock_factory: SocketFactory = tcp_connect,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        precheck: Callable[[], None] | None = None,
    ) -> SshSession:
        """Connect and authenticate, retrying refused/reset/banner errors until `timeout`.

        `precheck()` runs before every attempt and may raise to abort at once (e.g. when the
        QEMU process has exited: no point waiting out the budget).

        Raises:
            WaitExpired: no session within `timeout`; the message quotes the last error.
        """
        label = f"{name} ({user}@{host}:{port})" if name else f"{user}@{host}:{port}"
        sessions: list[SshSession] = []

        def attempt(left: float) -> Observation:
            if precheck is not None:
                precheck()
            # TCP connect, banner and auth each wait up to `step`: a third each keeps the
            # attempt (and so the wait) within the time it was handed.
            step = min(left / 3, 10.0)
            client = paramiko.SSHClient()
            # Guests are ephemeral and their host keys are built into the image.
            client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
            try:
                sock = sock_factory(host, port, step)
                client.connect(
                    host, port=port, username=user, pkey=key.pkey(), sock=sock,
                    timeout=step, banner_timeout=step, auth_timeout=step,
                    channel_timeout=step, look_for_keys=False, allow_agent=False,
                )  # fmt: skip
            except (OSError, GuestUnreachable, paramiko.SSHException, EOFError) as err:
                client.close()
                return Observation(ok=False, output=f"{type(err).__name__}: {err}")
            sessions.append(cls(client, label))
            return Observation(ok=True)

        wait_until(attempt, what=f"ssh {label}", timeout=timeout, clock=clock, sleep=sleep)
        return sessions[0]

    def close(self) -> None:
        self._client.close()

    @property
    def alive(self) -> bool:
        transport = self._client.get_transport()
        return transport is not None and transport.is_active()

    def _open_channel(
        self, transport: paramiko.Transport, command: str, budget: float, deadline: float
    ) -> paramiko.Channel:
        """Open a channel and start `command`. A live transport whose guest does not answer
        (frozen by QMP `stop`, or overloaded) is a timeout within the command's budget, not a
        lost guest: retry until the deadline, then raise CommandTimeout."""
        last: Exception | None = None
        for _ in range(1000):  # bounded by the deadline; each try waits at most 10 s
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                chan = transport.open_session(timeout=min(left, 10.0))
                chan.exec_command(command)
                chan.shutdown_write()
                return chan
            except (paramiko.SSHException, OSError, EOFError) as err:
                last = err
                if not transport.is_active():
                    raise GuestUnreachable(f"ssh {self.label}: cannot start {command!r}: {err}") from err
        raise CommandTimeout(
            f"command {command!r} on {self.label}: no SSH channel within {budget:.1f} s "
            f"(guest frozen or overloaded?); last error: {last}",
            stdout="",
            stderr="",
        )

    def run(self, command: str, *, timeout: Duration = 900) -> CommandResult:
        """Run `command` (through the guest's shell) and wait at most `timeout` seconds.

        Raises:
            CommandTimeout: still running at the deadline (channel closed; partial output).
            GuestUnreachable: the connection is gone (node crashed or rebooted).
        """
        budget = seconds(timeout)
        begin = time.monotonic()
        deadline = begin + budget
        transport = self._client.get_transport()
        if transport is None or not transport.is_active():
            raise GuestUnreachable(f"ssh {self.label}: connection is closed; reconnect")
        chan = self._open_channel(transport, command, budget, deadline)
        out, err_out = bytearray(), bytearray()
        exited_at: float | None = None
        try:
            while time.monotonic() < deadline:
                now = time.monotonic()
                if exited_at is not None and now - exited_at > DRAIN_AFTER_EXIT:
                    break
                select.select([chan], [], [], max(0.0, min(0.1, deadline - now)))
                while chan.recv_ready():
                    out += chan.recv(65536)
                while chan.recv_stderr_ready():
                    err_out += chan.recv_stderr(65536)
                if exited_at is None and chan.exit_status_ready():
                    exited_at = time.monotonic()
                if chan.eof_received and exited_at is not None and not chan.recv_ready():
                    break
            if exited_at is None:
                raise CommandTimeout(
                    f"command {command!r} on {self.label} still running after {budget:.1f} s",
                    stdout=out.decode(errors="replace"),
                    stderr=err_out.decode(errors="replace"),
                )
            rc = chan.recv_exit_status()
        except (OSError, paramiko.SSHException, EOFError) as err:
            raise GuestUnreachable(f"ssh {self.label}: lost during {command!r}: {err}") from err
        finally:
            chan.close()
        return CommandResult(
            rc, out.decode(errors="replace"), err_out.decode(errors="replace"),
            time.monotonic() - begin,
        )  # fmt: skip

    def get(self, remote: str, local: Path, *, timeout: Duration = 300) -> None:
        """Copy a guest file or directory (recursively) to `local` over SFTP, keeping modes.

        `timeout` bounds each SFTP request (no progress for that long is an error).

        Raises:
            WaitTimeout: an SFTP request got no answer within `timeout` seconds.
            InfrastructureError: SFTP failed (no such file, permission, connection lost).
        """
        self._sftp(lambda sftp: sftp_get_tree(sftp, remote, local), timeout, f"get {remote}")

    def put(self, local: Path, remote: str, *, timeout: Duration = 300) -> None:
        """Copy a host file or directory (recursively) to the guest path `remote` over SFTP,
        keeping modes; same bounds and errors as `get`."""
        self._sftp(lambda sftp: sftp_put_tree(sftp, local, remote), timeout, f"put {remote}")

    def _sftp(self, action: Callable[[paramiko.SFTPClient], object], timeout: Duration,
              what: str) -> None:  # fmt: skip
        try:
            sftp = self._client.open_sftp()
        except (paramiko.SSHException, OSError) as err:
            raise InfrastructureError(f"sftp {self.label}: {what}: {err}") from err
        try:
            sftp.get_channel().settimeout(seconds(timeout))  # type: ignore[union-attr]
            action(sftp)
        except TimeoutError as err:
            raise WaitTimeout(f"sftp {self.label}: {what}: no progress in {timeout} s") from err
        except (paramiko.SSHException, OSError) as err:
            raise InfrastructureError(f"sftp {self.label}: {what}: {err}") from err
        finally:
            sftp.close()
