"""`cluster-test` refuses arguments that cannot work in one line, exit 4, before it probes the
accelerator or boots anything: non-finite or huge `--timeout` (NaN slipped past `<= 0`; pytest's
timer overflowed near 1e9 s), a `--tcg-factor` outside what the slowness model takes, and a
`--report` where no directory can be made (each was a traceback with exit 1)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

CLUSTER_TEST = Path(sys.executable).parent / "cluster-test"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CLUSTER_TEST), *args], capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--timeout", "nan"), "--timeout: expected seconds in (0, 604800], got nan"),
        (("--timeout", "inf"), "--timeout: expected seconds in (0, 604800], got inf"),
        (("--timeout", "1e10"), "--timeout: expected seconds in (0, 604800]"),
        (("--timeout", "0"), "--timeout: expected seconds in (0, 604800], got 0.0"),
        (("--tcg-factor", "-1"), "--tcg-factor: expected 1 to 100 (0 or none: measure it), got -1.0"),
        (("--tcg-factor", "nan"), "--tcg-factor: expected 1 to 100"),
        (("--tcg-factor", "0.5"), "--tcg-factor: expected 1 to 100"),
    ],
)
def test_bad_numbers_are_one_line_exit_4(args: tuple[str, ...], says: str) -> None:
    done = run("--list", *args)
    assert done.returncode == 4, done.stderr
    assert done.stderr.strip() == f"cluster-test: {says}" or done.stderr.startswith(f"cluster-test: {says}")
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


def test_a_report_dir_that_cannot_be_made_is_one_line_exit_4_before_any_probe(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    for report in (blocker, blocker / "sub"):
        done = run("-k", "test_markers", "--report", str(report))
        assert done.returncode == 4, done.stderr
        assert done.stderr.startswith(f"cluster-test: --report {report}: cannot make the report directory")
        assert len(done.stderr.strip().splitlines()) == 1
        assert "ACCEL" not in done.stdout  # refused before the accelerator probe


@pytest.mark.parametrize("keyword", ["nothing-at-all", "test_markers and not test_markers"])
def test_a_keyword_that_selects_nothing_is_one_line_exit_4_before_any_probe(tmp_path: Path, keyword: str) -> None:
    report = tmp_path / "report"
    done = run("-k", keyword, "--report", str(report))
    assert done.returncode == 4, done.stderr
    assert done.stderr == f"cluster-test: -k {keyword!r} selects no scenario (cluster-test --list shows them)\n"
    assert "ACCEL" not in done.stdout and not report.exists()  # before the probe and the report dir


def test_a_keyword_that_is_no_expression_is_one_line_exit_4(tmp_path: Path) -> None:
    done = run("-k", "markers and (", "--report", str(tmp_path / "report"))
    assert done.returncode == 4, done.stderr
    assert done.stderr.startswith("cluster-test: -k 'markers and (': not a pytest expression")
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


def test_snapshot_flags_that_cannot_work_are_one_line_exit_4_before_any_probe(tmp_path: Path) -> None:
    script = tmp_path / "t.py"
    script.write_text("start_all()\n")
    cases = [
        (("--from", str(tmp_path)), "--from and --save-snapshot go with --script or --interactive"),
        (("--save-snapshot", str(tmp_path / "s")), "--from and --save-snapshot go with --script or --interactive"),
        (("--script", str(script), "--from", str(tmp_path / "none")),
         f"--from: no cluster snapshot in {tmp_path / 'none'} (make one with --save-snapshot)"),
    ]  # fmt: skip
    for args, says in cases:
        done = run(*args, "--report", str(tmp_path / "report"))
        assert done.returncode == 4, done.stderr
        assert done.stderr == f"cluster-test: {says}\n"
        assert "ACCEL" not in done.stdout
