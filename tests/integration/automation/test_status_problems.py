"""`fba status` as a subprocess names what it cannot read (an unreadable marker or state
directory) instead of showing the step as merely "pending"; the exit code stays the documented
verdict. Unreadable needs a user without root's override of file modes: root runs `fba` without
those capabilities (setpriv), as the reviewer did."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from automation.spec.exitcodes import ExitCode

from .conftest import FBA, Fba, FbaResult
from .expect import JOINED

NOCAP = (
    "setpriv",
    "--bounding-set=-dac_override,-dac_read_search",
    "--inh-caps=-dac_override,-dac_read_search",
)


def _status(fba: Fba, state_dir: Path, *extra: str) -> FbaResult:
    prefix: tuple[str, ...] = ()
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("root without setpriv reads mode-000 files")
        prefix = NOCAP
    argv = [*prefix, str(FBA), "--state-dir", str(state_dir), "status", "--timeout", "1", *extra]
    return fba._run(argv, fba.env(), 10.0)


def test_an_unreadable_marker_is_reported(fba: Fba) -> None:
    fba.state_dir.mkdir(mode=0o700)
    marker = fba.marker(JOINED)
    marker.write_text("2025-12-10T10:30:45+00:00\n")
    marker.chmod(0)

    text = _status(fba, fba.state_dir)
    document = _status(fba, fba.state_dir, "--format", "json")

    expected = f"chainfire: marker {marker} unreadable: Permission denied; not trusted"
    assert text.rc == ExitCode.NOT_FINISHED, text.describe()
    assert f"    {expected}" in text.stdout.splitlines(), text.describe()
    assert document.rc == ExitCode.NOT_FINISHED
    assert json.loads(document.stdout)["problems"] == [expected]


def test_an_unreadable_state_directory_is_reported_once(fba: Fba) -> None:
    fba.state_dir.mkdir(mode=0o700)
    (fba.marker(JOINED)).write_text("2025-12-10T10:30:45+00:00\n")
    fba.state_dir.chmod(0)
    try:
        result = _status(fba, fba.state_dir, "--format", "json")
    finally:
        fba.state_dir.chmod(0o700)  # so that tmp_path can be removed

    assert result.rc == ExitCode.NOT_FINISHED, result.describe()
    problems = json.loads(result.stdout)["problems"]
    assert problems == [f"state directory {fba.state_dir} unreadable: Permission denied: no marker can be read"]
