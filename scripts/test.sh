#!/usr/bin/env bash
# The project's test command (README, .ci/run): install with the dev extras, start a throw-away PostgreSQL
# server for the distributed-tuning test, lint, check the formatting (ruff format), run the suite.
# Where PostgreSQL is installed (or apt installs it), start_test_postgres.sh exports SB3_MARL_REQUIRE_POSTGRES=1,
# which turns that test's skip (no server, no psycopg2, server unreachable) into a failure: a server that did not
# start fails the run instead of leaving distributed tuning untested. Without PostgreSQL the test skips and says why.
set -euo pipefail
cd "$(dirname "$0")/.."
# the interpreter setup.sh installs into (its rule: $PYTHON, else python, else python3) runs the checks too
PYTHON="${PYTHON:-$(command -v python || command -v python3 || true)}"
export PYTHON
bash scripts/setup.sh dev
eval "$(bash scripts/start_test_postgres.sh)"
trap 'if [ -n "${SB3_MARL_TEST_POSTGRES_STOP:-}" ]; then bash -c "$SB3_MARL_TEST_POSTGRES_STOP" >/dev/null 2>&1 || true; fi' EXIT
"$PYTHON" -m ruff check .
"$PYTHON" -m ruff format --check .
"$PYTHON" -m pytest -q "$@"
