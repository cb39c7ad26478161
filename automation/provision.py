"""`fba provision`: install injected files into the secrets directory, as nixos-anywhere does.

Each regular file of `--source` is installed under `--dest` (default /etc/nixos/secrets) with
mode 0600, atomically, only when its content differs. Files in `--dest` that the source does
not have (the IAM credentials this node generated) are never touched.
"""

from __future__ import annotations

from pathlib import Path

from automation import regularfile
from automation.errors import FbaError
from automation.log import Logger
from automation.markers import write_atomic
from automation.spec.exitcodes import ExitCode

MAX_FILE_BYTES = 4 * 1024 * 1024


def run_provision(source: Path, dest: Path, log: Logger) -> ExitCode:
    log = log.bind(operation="provision")
    if not source.is_dir():
        raise FbaError(f"provision source {source} is not a directory", exit_code=ExitCode.INVALID)
    dest.mkdir(mode=0o700, parents=True, exist_ok=True)
    dest.chmod(0o700)
    installed, unchanged = [], []
    for path in sorted(p for p in source.rglob("*") if p.is_file() and not p.is_symlink()):
        relative = path.relative_to(source)
        target = dest / relative
        try:
            data = regularfile.read(path, MAX_FILE_BYTES, follow_symlinks=False)
        except regularfile.FileTooLarge:
            raise FbaError(
                f"provision: {relative} is larger than {MAX_FILE_BYTES} bytes", exit_code=ExitCode.INVALID
            ) from None
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if _content(target) == data:
            target.chmod(0o600)
            unchanged.append(str(relative))
            continue
        write_atomic(target, data, mode=0o600)
        installed.append(str(relative))
    log.info("Provisioned secrets", dest=str(dest), installed=installed, unchanged=unchanged)
    return ExitCode.OK


def _content(target: Path) -> bytes | None:
    """What `target` holds now, or None when it is not a readable regular file (then it is
    replaced). Never blocks: a FIFO in the secrets dir once hung the install on its open."""
    try:
        return regularfile.read(target, MAX_FILE_BYTES)
    except OSError:
        return None
