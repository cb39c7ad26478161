"""Rootless tier: the harness's network as an unprivileged user, on this host, no VMs.

As root (CI), bodies run as `nobody` through `setpriv`; as any other user, as that user. The
interpreter must be usable by that user: the venv's usually is, but a venv made from a Python
under a 0700 home (pyenv in /root) is not, so then a throwaway venv is made from the system
Python of the same minor version, seeing the project venv's site-packages through a .pth file.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

BODY = Path(__file__).with_name("unprivileged_body.py")
REPO = Path(__file__).resolve().parents[3]
USER = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"]
# An unprivileged user's PATH on Debian: no sbin (the harness must add it itself for nft).
USER_PATH = "/usr/local/bin:/usr/bin:/bin"


@dataclass
class Unprivileged:
    """Runs a body of `unprivileged_body.py` as an unprivileged user."""

    prefix: list[str]
    python: str
    workdir: Path
    who: str

    def env(self) -> dict[str, str]:
        return {"PATH": USER_PATH, "HOME": str(self.workdir), "TMPDIR": str(self.workdir), "LANG": "C.UTF-8",
                "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(REPO),
                "FBA_NET_MODE": "rootless"}  # fmt: skip  # the opt-in while rootless is experimental

    def run(self, *args: str, timeout: float = 120.0) -> dict[str, Any]:
        """The body's JSON report; fails the test with its output when it exits non-zero."""
        done = subprocess.run(  # argv list, no shell
            [*self.prefix, self.python, str(BODY), *args], capture_output=True, text=True,
            timeout=timeout, env=self.env(), cwd=self.workdir, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            pytest.fail(f"body {' '.join(args)} as {self.who} exited {done.returncode}:\n"
                        f"{done.stdout[-3000:]}\n{done.stderr[-6000:]}")  # fmt: skip
        report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return report


def _usable(prefix: Sequence[str], python: str, workdir: Path) -> str | None:
    """None if `python` runs and imports the harness as that user; else why not. Started
    through `env`, as nsenter starts the relay: a plain exec check is not the same thing."""
    probe = subprocess.run(  # argv list, no shell
        [*prefix, "env", python, "-c", "import harness.network.userns, sys; print(sys.version_info[:2])"],
        capture_output=True, text=True, timeout=60, check=False, cwd=workdir,
        env={"PATH": USER_PATH, "PYTHONPATH": str(REPO), "HOME": str(workdir)},
    )  # fmt: skip
    return None if probe.returncode == 0 else (probe.stderr.strip().splitlines() or ["no output"])[-1]


def _system_venv(workdir: Path) -> str:
    """A venv of the system Python with the project venv's packages: usable by everyone."""
    base = shutil.which("python3", path=USER_PATH)
    if base is None:
        pytest.skip("the venv's interpreter is not usable unprivileged and there is no system python3")
    version = subprocess.run([base, "-c", "import sys; print(*sys.version_info[:2])"], capture_output=True,
                             text=True, check=True, timeout=30).stdout.split()  # fmt: skip
    if tuple(map(int, version)) != sys.version_info[:2]:
        pytest.skip(f"the venv's interpreter is not usable unprivileged, and the system {base} is "
                    f"{'.'.join(version)}, not {sys.version_info[0]}.{sys.version_info[1]}")  # fmt: skip
    venv = workdir / "venv"
    subprocess.run([base, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    packages = next(Path(p) for p in sys.path if p.endswith("site-packages") and Path(p).is_dir())
    pth = venv / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages" / "fba-project.pth"
    # addsitedir (not a bare path line) so the editable install's own .pth files are honoured.
    pth.write_text(f"import site; site.addsitedir({str(packages)!r})\n")
    return str(venv / "bin" / "python")


@pytest.fixture(scope="session")
def unprivileged() -> Iterator[Unprivileged]:
    root = os.geteuid() == 0
    prefix = USER if root else []
    if root and shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is needed to drop to nobody")
    # Not pytest's tmp_path: that lives under /tmp/pytest-of-root, 0700, closed to nobody.
    workdir = Path(tempfile.mkdtemp(prefix="fba-rootless-"))
    try:
        if root:  # nobody's own directory: its TMPDIR (relay sockets) and HOME
            os.chown(workdir, pwd.getpwnam("nobody").pw_uid, grp.getgrnam("nogroup").gr_gid)
        python = sys.executable
        why = _usable(prefix, python, workdir)
        if why is not None:
            python = _system_venv(workdir)
            subprocess.run(["chmod", "-R", "a+rX", str(workdir / "venv")], check=True, timeout=30)
            again = _usable(prefix, python, workdir)
            if again is not None:
                pytest.skip(f"no interpreter usable as nobody: {sys.executable}: {why}; {python}: {again}")
        yield Unprivileged(prefix, python, workdir, "nobody" if root else f"uid {os.geteuid()}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
