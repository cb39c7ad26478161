#!/usr/bin/env bash
# The project's test command (README, .ci/run): set-up, lint, types, then every tier:
# unit + integration (parallel), the VM tier (serial: QEMU under TCG wants the cores), and the
# cluster-test scenarios (the main job, node01-03 and the fault scenarios in QEMU).
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
export PYTHONDONTWRITEBYTECODE=1
REPORTS=${FBA_REPORTS:-reports/test}
rm -rf "$REPORTS"; mkdir -p "$REPORTS"
failed=0
step() { echo; echo "== $*"; }

step ruff;  .venv/bin/ruff check . || failed=1
step mypy;  .venv/bin/mypy || failed=1

step "unit + integration tiers"
.venv/bin/pytest -p no:cacheprovider -n "${FBA_TEST_WORKERS:-2}" --junitxml="$REPORTS/junit-fast.xml" \
  tests/unit tests/integration "$@"
rc=$?; [[ $rc -eq 0 ]] || failed=1
[[ $rc -eq 5 ]] && echo "test: no tests were collected" >&2

step "VM tier (QEMU)"
.venv/bin/pytest -p no:cacheprovider --junitxml="$REPORTS/junit-vm.xml" tests/vm "$@" || failed=1

step "cluster-test scenarios (the main job)"
.venv/bin/cluster-test --report "$REPORTS/cluster-test" || failed=1
cp "$REPORTS/cluster-test/junit.xml" "$REPORTS/junit-cluster-test.xml" 2>/dev/null

step "leftovers"
leaks=$(ip netns list 2>/dev/null | grep -c '^fba' || true)
# The kernel keeps 15 characters of a process name: qemu-system-x86_64 is "qemu-system-x86"
# (pgrep -x with the full name matched nothing, so this check could not fail).
qemus=$(pgrep -c -x qemu-system-x86 || true)
# Rootless runs have no /run/netns entry: what lives on in their user namespaces carries the
# FBA_USERNS=<name> tag the harness puts in the environment of everything it starts there.
rootless=$(grep -l -s -a -z '^FBA_USERNS=' /proc/[0-9]*/environ 2>/dev/null | wc -l)
echo "network namespaces left: ${leaks:-0}, QEMU processes left: ${qemus:-0}, rootless processes left: ${rootless:-0}"
if [[ ${leaks:-0} -gt 0 || ${qemus:-0} -gt 0 || ${rootless:-0} -gt 0 ]]; then failed=1; fi

step summary
.venv/bin/python scripts/junit_summary.py "$REPORTS"/junit-fast.xml "$REPORTS"/junit-vm.xml "$REPORTS"/junit-cluster-test.xml
exit $failed
