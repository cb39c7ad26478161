#!/usr/bin/env bash
# Boot node03 alone, by hand, as cluster-test boots it (same netboot image, same generated
# config and TLS material, its own network namespace), serial console on this terminal.
# Ctrl-] ends it; QEMU and the namespace are removed. Needs root (namespaces).
# Extra arguments go to harness.boot_one: --check, --nodes 1, --report DIR, --kernel/--initrd.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec .venv/bin/python -m harness.boot_one node03 "$@"
