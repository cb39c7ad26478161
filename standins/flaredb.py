"""`standin-flaredb`: the flaredb stand-in (API :2479, Raft :2480 by default) with a small KV."""

from __future__ import annotations

from collections.abc import Sequence

from standins.contract import Service
from standins.daemon import run_cluster_daemon


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `standin-flaredb`; returns the exit status."""
    return run_cluster_daemon(Service.FLAREDB, argv)


if __name__ == "__main__":
    raise SystemExit(main())
