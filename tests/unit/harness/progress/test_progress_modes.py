"""Which progress a `cluster-test` run gets, and the child's output relayed whole lines."""

from __future__ import annotations

import argparse
import io
import os
from pathlib import Path

from harness.cli import _progress_mode, build_parser
from harness.progress import Mode, choose_mode
from harness.progress.render import LineSink
from harness.progress.reporter import Reporter


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(list(argv))


def test_auto_is_lines_on_a_file_and_live_on_a_terminal() -> None:
    assert choose_mode(Mode.AUTO, io.StringIO()) is Mode.LINES
    os.environ.setdefault("TERM", "xterm")
    if os.environ["TERM"] != "dumb":
        assert choose_mode(Mode.AUTO, Tty()) is Mode.LIVE
    assert choose_mode(Mode.OFF, Tty()) is Mode.OFF


def test_off_for_list_and_for_the_prompt(tmp_path: Path) -> None:
    assert _progress_mode(args("--list"), None) is Mode.OFF
    assert _progress_mode(args("--interactive"), tmp_path) is Mode.OFF
    assert _progress_mode(args("--progress", "off"), tmp_path) is Mode.OFF
    assert _progress_mode(args("--progress", "lines"), tmp_path) is Mode.LINES


def test_child_output_is_relayed_in_whole_lines(tmp_path: Path) -> None:
    out = io.StringIO()
    read_fd, write_fd = os.pipe()
    with Reporter(tmp_path, LineSink(out), poll_s=0.05) as reporter, os.fdopen(read_fd, "rb") as child_out:
        reporter.relay(child_out)
        with os.fdopen(write_fd, "wb") as child:
            child.write(b"harness/scenarios/test_bootstrap.py ")
            child.flush()
            child.write(b"..\nlast line without newline")
        reporter.finish()  # EOF: the relay ends, its last partial line is written whole
    assert out.getvalue() == "harness/scenarios/test_bootstrap.py ..\nlast line without newline\n"
