"""`cluster-test --script` maps a verb this harness lacks, reached at run time (not named in
the script), to exit 4 with one line, never a traceback."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from harness import cli
from harness.errors import UnsupportedVerb


def test_unsupported_verb_at_run_time_is_exit_4_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "dynamic.py"
    script.write_text('getattr(machine, "screen" + "shot")("x")\n')

    def fake_run(_args: argparse.Namespace, _report: Path, _headline: str) -> int:
        raise UnsupportedVerb("node01.screenshot: not supported by this harness; nodes run without a display")

    monkeypatch.setattr(cli, "_accel_headline", lambda _args: "ACCEL: TCG (test)")
    monkeypatch.setattr(cli, "driver_run", fake_run)
    rc = cli.run(["--script", str(script), "--nodes", "1", "--report", str(tmp_path / "run")])
    assert rc == cli.Exit.USAGE == 4
    err = capsys.readouterr().err
    assert err == "cluster-test: unsupported: node01.screenshot: not supported by this harness; " \
                  "nodes run without a display\n"  # fmt: skip
