"""`standin-chainfire`: the chainfire stand-in (API :2379, Raft :2380 by default)."""

from __future__ import annotations

from collections.abc import Sequence

from standins.contract import Service
from standins.daemon import run_cluster_daemon


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `standin-chainfire`; returns the exit status."""
    return run_cluster_daemon(Service.CHAINFIRE, argv)


if __name__ == "__main__":
    raise SystemExit(main())
