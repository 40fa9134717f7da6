#!/usr/bin/env bash
# The project's test command (README, .ci/run): install with the dev extras, start a throw-away PostgreSQL
# server for the distributed-tuning test (fails soft: that test then skips and says why), lint, check the
# formatting (ruff format), run the suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
eval "$(bash scripts/start_test_postgres.sh)"
trap 'if [ -n "${SB3_MARL_TEST_POSTGRES_STOP:-}" ]; then bash -c "$SB3_MARL_TEST_POSTGRES_STOP" >/dev/null 2>&1 || true; fi' EXIT
python -m ruff check .
python -m ruff format --check .
python -m pytest -q "$@"
