# ruff: noqa: F821
# mypy: ignore-errors
# Adapted from nixpkgs nixos/tests/nixos-test-driver/console-log.nix (testScript, read at
# 6aa846a0): get_console_log() holds this boot's console output, and a restart clears it.
# Run with `--nodes 1` (`machine`). Substituted, and why:
# - "stderr reaches the console": a command's stderr goes to the run log here, not the console
#   (the driver's backdoor shell writes it there), so the direct message is written to
#   /dev/console, which is the console in both.
# - The kernel messages are written with priority <3> (error), so they reach the console
#   whatever its log level (NixOS test VMs forward the journal to the console instead).
import time

# Start the machine and wait for it to boot
machine.start()
machine.wait_for_unit("multi-user.target")

with subtest("get_console_log returns console output"):
    # Get the console log
    console_log = machine.get_console_log()
    # Verify it's a non-empty string
    assert isinstance(console_log, str), f"Expected string, got {type(console_log)}"
    assert len(console_log) > 0, "Console log should not be empty"

    print(f"Console log length: {len(console_log)} characters")
    print("Console log preview (first 500 chars):")
    print(console_log[:500])

with subtest("console log contains boot messages"):
    # Check for typical boot messages
    assert "systemd" in console_log, "Console log should contain systemd messages"

    # Test direct console output (upstream: a command's stderr)
    machine.succeed("echo 'DIRECT_TEST_MESSAGE_12345' > /dev/console")
    time.sleep(1)

    updated_log = machine.get_console_log()
    assert "DIRECT_TEST_MESSAGE_12345" in updated_log, "Console log should capture console messages"
    print("Successfully captured a console message in console log")

with subtest("console log captures command output"):
    # Execute a command that prints to console via kernel messages
    machine.succeed("echo '<3>KERNEL_TEST_MESSAGE_12345' > /dev/kmsg")

    # Wait a moment for the message to be captured
    time.sleep(2)

    # Get updated console log
    updated_log = machine.get_console_log()
    if "KERNEL_TEST_MESSAGE_12345" in updated_log:
        print("Successfully captured kernel message in console log")
    else:
        print("Kernel message not found in console log - this may be expected depending on log level")

with subtest("console log persists across multiple calls"):
    # Get console log twice and verify they're consistent
    log1 = machine.get_console_log()
    log2 = machine.get_console_log()

    # Both logs should contain the same content (log2 might have additional content)
    assert "systemd" in log1, "First log should contain systemd messages"
    assert "systemd" in log2, "Second log should contain systemd messages"
    assert len(log2) >= len(log1), "Second log should be at least as long as first log"
    assert "KERNEL_TEST_MESSAGE_12345" in log2, "Second log should contain our kernel test message"

with subtest("console log contains kernel messages"):
    # Look for typical kernel boot messages
    kernel_indicators = ["Linux version", "Command line:", "Kernel command line"]
    kernel_found = any(indicator in console_log for indicator in kernel_indicators)
    assert kernel_found, f"Console log should contain kernel messages. Indicators checked: {kernel_indicators}"

with subtest("console log is cleared on machine restart"):
    # Get the current console log and verify it contains our test messages
    pre_shutdown_log = machine.get_console_log()
    assert "KERNEL_TEST_MESSAGE_12345" in pre_shutdown_log, "Pre-shutdown log should contain our kernel message"
    assert "DIRECT_TEST_MESSAGE_12345" in pre_shutdown_log, "Pre-shutdown log should contain our console message"
    pre_shutdown_length = len(pre_shutdown_log)
    print(f"Pre-shutdown console log length: {pre_shutdown_length} characters")

    # Shutdown the machine
    machine.shutdown()

    # Start the machine again
    machine.start()
    machine.wait_for_unit("multi-user.target")

    # Get the console log after restart
    post_restart_log = machine.get_console_log()
    post_restart_length = len(post_restart_log)
    print(f"Post-restart console log length: {post_restart_length} characters")

    # Verify the old messages are gone (log should be fresh)
    assert "KERNEL_TEST_MESSAGE_12345" not in post_restart_log, "Post-restart log should not contain old kernel message"
    assert "DIRECT_TEST_MESSAGE_12345" not in post_restart_log, "Post-restart log should not contain old console msg"

    # Verify we still have boot messages (log should contain new boot sequence)
    assert "systemd" in post_restart_log, "Post-restart log should contain systemd messages from new boot"
    kernel_found_restart = any(indicator in post_restart_log for indicator in kernel_indicators)
    assert kernel_found_restart, "Post-restart log should contain kernel messages from new boot"

    # Add a new test message to verify the log is working after restart
    machine.succeed("echo '<3>POST_RESTART_TEST_MESSAGE_67890' > /dev/kmsg")
    time.sleep(1)

    final_log = machine.get_console_log()
    assert "POST_RESTART_TEST_MESSAGE_67890" in final_log, "Should capture new messages after restart"

    print("Console log successfully cleared on restart and is functional again")

print("All console log tests passed successfully!")
