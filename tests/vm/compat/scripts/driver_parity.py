# ruff: noqa: F821
# mypy: ignore-errors
# Driver verbs that need a real guest, in the shapes nixpkgs tests use them. Run with
# `--nodes 1` (`machine`). Host files go to a temporary directory (the driver's tests
# use the Nix store there).
import json
import tempfile
from pathlib import Path

start_all()
machine.wait_for_unit("multi-user.target")

with subtest("copy_from_host: parents created, an executable stays executable"):
    host = Path(tempfile.mkdtemp())
    (host / "hello.sh").write_text("#!/bin/sh\necho hello from a copied script\n")
    (host / "hello.sh").chmod(0o755)
    machine.copy_from_host(str(host / "hello.sh"), "/opt/parity/not/yet/hello.sh")
    t.assertEqual(machine.succeed("/opt/parity/not/yet/hello.sh"), "hello from a copied script\n")

with subtest("copy_from_machine: a directory tree lands under out_dir/target_dir"):
    machine.succeed("mkdir -p /tmp/tree/sub && echo a > /tmp/tree/a.txt && echo b > /tmp/tree/sub/b.txt")
    machine.copy_from_machine("/tmp/tree", "copied")
    t.assertEqual((driver.out_dir / "copied/tree/sub/b.txt").read_text(), "b\n")
    machine.copy_from_vm("/tmp/tree/a.txt")
    t.assertEqual((driver.out_dir / "a.txt").read_text(), "a\n")

with subtest("a server started with >&2 & keeps running and writing"):
    machine.succeed("(for i in $(seq 600); do echo tick $i >&2; echo $i > /tmp/ticks; sleep 0.5; done) >&2 &")
    first = int(machine.wait_until_succeeds("cat /tmp/ticks", timeout=30))
    later = first + 4
    machine.wait_until_succeeds(f"test $(cat /tmp/ticks) -ge {later}", timeout=60)
    machine.succeed(f"grep -q 'tick {later}' /run/fba-command-stderr.log")

with subtest("stdout only: stderr progress does not break json.loads"):
    t.assertEqual(json.loads(machine.succeed("echo '{\"a\":1}'; echo progress >&2")), {"a": 1})
    t.assertEqual(json.loads(machine.wait_until_succeeds("echo '[2]'; echo progress >&2")), [2])
    t.assertEqual(machine.execute("echo out; echo err >&2; exit 3"), (3, "out\n"))

with subtest("a polling condition is checked inside each wait_until_succeeds attempt"):
    checks = []

    @polling_condition(seconds_interval=0)
    def guest_answers():
        "guest answers"
        checks.append(1)
        return True

    with guest_answers:
        machine.succeed("rm -f /tmp/go; (sleep 3; touch /tmp/go) >&2 &")
        machine.wait_until_succeeds("test -e /tmp/go", timeout=60)
    # one check for succeed, then one per attempt (at least two: /tmp/go appears after 3 s)
    t.assertGreaterEqual(len(checks), 3)

with subtest("console log and monitor"):
    t.assertTrue(machine.get_console_log().strip(), "console output since start()")
    t.assertIn("running", machine.send_monitor_command("info status"))
    t.assertEqual(machine.execute("true", check_output=False), (-2, ""))
