"""Running the host tools an image build needs (mmdebstrap, zstd, pip, depmod).

Every call is an argv list with a deadline; a failure becomes one `InfrastructureError`
that quotes the command, its exit status and the tail of its stderr.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from harness.errors import InfrastructureError

STDERR_TAIL = 1500


def require_tool(name: str, package: str) -> str:
    """Path of a host tool, or an error naming the Debian package to install."""
    found = shutil.which(name)
    if found is None:
        raise InfrastructureError(
            f"image build: {name} not found on PATH; apt-get install -y {package}"
        )
    return found


def run(
    argv: Sequence[str | Path],
    *,
    what: str,
    timeout: float,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    stdin: bytes | None = None,
) -> bytes:
    """Run argv to completion and return its stdout.

    Raises:
        InfrastructureError: the command is missing, timed out or exited non-zero.
    """
    args = [str(a) for a in argv]
    try:
        proc = subprocess.run(
            args, input=stdin, capture_output=True, cwd=cwd, env=env, timeout=timeout, check=False
        )
    except FileNotFoundError as err:
        raise InfrastructureError(f"{what}: {args[0]} not found; install it") from err
    except subprocess.TimeoutExpired as err:
        tail = (err.stderr or b"")[-STDERR_TAIL:].decode(errors="replace")
        raise InfrastructureError(
            f"{what}: {' '.join(args[:4])} ... still running after {timeout:.0f} s; last stderr: "
            f"{tail!r}"
        ) from err
    if proc.returncode != 0:
        tail = proc.stderr[-STDERR_TAIL:].decode(errors="replace")
        raise InfrastructureError(
            f"{what}: {' '.join(args[:6])} exited {proc.returncode}: {tail.strip()}"
        )
    return proc.stdout


def zstd(data: bytes, *, level: int = 3) -> bytes:
    """zstd-compress in a subprocess (all cores); Python 3.11 has no zstd module."""
    tool = require_tool("zstd", "zstd")
    return run([tool, f"-{level}", "-T0", "-q", "-c"], what="zstd", timeout=600, stdin=data)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
