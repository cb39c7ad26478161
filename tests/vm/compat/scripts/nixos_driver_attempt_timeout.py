# ruff: noqa: F821
# mypy: ignore-errors
# Adapted from nixpkgs nixos/tests/nixos-test-driver/attempt-timeout.nix (testScript, read at
# a1882018): a probe that blocks must not make a wait outlive its budget. Run with `--nodes 1`.
# Changed, and why:
# - `attempt_timeout=` is dropped: that keyword is newer than the driver our verbs follow
#   (harness.parity.DRIVER_SOURCE). Ours gives each attempt only the time left, so a command
#   that blocks for 600 s is tried once and cut at the 20 s budget: the check is that it was
#   tried and that the wait ended within upstream's 40 s, not upstream's ">= 4 attempts".
# - iptables -> nftables (the image has nft, no iptables): the same DROP on TCP port 1234.
import datetime as dt
import time

start_all()
machine.wait_for_unit("multi-user.target")

with subtest("a blocking command is cut at the budget"):
    total = dt.timedelta(seconds=20)

    # each attempt records itself then blocks well past the budget
    command = "echo attempt >> /tmp/attempts; exec sleep 600 > /dev/null"

    started = time.monotonic()
    try:
        machine.wait_until_succeeds(command, timeout=total)
    except Exception:
        pass
    else:
        raise Exception("wait_until_succeeds should have timed out")

    elapsed = time.monotonic() - started
    attempts = int(machine.succeed("wc -l < /tmp/attempts"))
    assert attempts >= 1, f"command was tried {attempts} times"
    # upstream's bound for `total + attempt`; ours ends within `total` plus one poll
    assert elapsed < 40, f"wait_until_succeeds took {elapsed:.1f}s"

with subtest("a blocking probe is bounded by the caller's budget"):
    machine.succeed(
        "nft add table inet attempt && "
        "nft add chain inet attempt out '{ type filter hook output priority 0; }' && "
        "nft add rule inet attempt out tcp dport 1234 drop"
    )

    started = time.monotonic()
    try:
        machine.wait_for_open_port(1234, timeout=dt.timedelta(seconds=5))
    except Exception:
        pass
    else:
        raise Exception("wait_for_open_port should have timed out")
    elapsed = time.monotonic() - started

    # the bounded loop plus `retry`'s final attempt cost about ten seconds
    assert elapsed < 60, f"wait_for_open_port took {elapsed:.1f}s"
    machine.succeed("nft delete table inet attempt")  # ours: leave the node as it was
