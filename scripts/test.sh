#!/usr/bin/env bash
# Runs the test suites, each in a mocha process of its own, so one suite's failure (a hung test
# server, a crashed SDK runtime) cannot take the others down. Two lanes run side by side:
# - the integration suite on the local stack (test/integration/*.test.ts), which mostly waits;
# - the unit suite, the workflow suite (Temporal's test servers), then the integration tests of
#   OWN_DATABASE on a PostgreSQL database of their own (PGDATABASE; test/support/testEnv.ts
#   creates it): logical decoding is per database, so their load and slots never reach the other
#   lane's pipelines, nor the other lane's theirs. This lane's output is kept in
#   .cache/test-artifacts/ and printed once done.
# Prints how long each suite took. Exits non-zero when any suite failed.
set -uo pipefail
cd "$(dirname "$0")/.."
logs=.cache/test-artifacts
mkdir -p "$logs"
started=$SECONDS

# suite NAME LOG -- mocha arguments: runs one suite, its output to LOG, and notes its time and result.
suite() {
  local name=$1 log=$2 t0=$SECONDS rc=0
  shift 2
  npx mocha "$@" >"$log" 2>&1 || rc=$?
  echo "$name suite: $((SECONDS - t0)) s, exit $rc" >>"$log"
  return "$rc"
}

# The capture tests (the heaviest writers) and the reservation-expiry tests (holds of their own).
OWN_DATABASE=(test/integration/capture/*.test.ts test/integration/reservationExpiry.test.ts)
side_suites=(unit workflow own-database)
(
  rc=0
  suite unit "$logs/unit.log" "test/unit/**/*.test.ts" --ignore "test/unit/workflows/**" || rc=1
  suite workflow "$logs/workflow.log" "test/unit/workflows/*.test.ts" || rc=1
  PGDATABASE=cdc_own_database_tests suite own-database "$logs/own-database.log" "${OWN_DATABASE[@]}" || rc=1
  exit "$rc"
) &
side=$!

status=0
t0=$SECONDS
npx mocha "test/integration/*.test.ts" --ignore test/integration/reservationExpiry.test.ts || status=1
integration="integration suite: $((SECONDS - t0)) s, exit $status"

wait "$side" || status=1
for s in "${side_suites[@]}"; do
  echo "──── $s suite (ran beside the integration suite) ────"
  cat "$logs/$s.log"
done
echo "$integration"
echo "test suites: $((SECONDS - started)) s in all, exit $status"
exit "$status"
