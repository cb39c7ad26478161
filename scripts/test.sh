#!/usr/bin/env bash
# The project's test command (README, .ci/run): set-up, lint, type check, all three tiers.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PYTHONDONTWRITEBYTECODE=1

echo "== ruff"; .venv/bin/ruff check .
echo "== mypy"; .venv/bin/mypy
echo "== tests (unit, integration, vm)"
set +e
.venv/bin/pytest -p no:cacheprovider -n "${FBA_TEST_WORKERS:-2}" --junitxml=reports/junit.xml "$@" tests
rc=$?
set -e
# pytest's 5 means "no tests ran": that is a failure of the suite, not a pass.
if [[ $rc -eq 5 ]]; then echo "test: no tests were collected" >&2; exit 1; fi
exit $rc
