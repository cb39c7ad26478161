#!/usr/bin/env bash
# The project's main job: boot node01-03 from the default netboot image in QEMU and check them.
# Arguments are passed to `cluster-test` (see `cluster-test --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/cluster-test "$@"
