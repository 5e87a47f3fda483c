#!/usr/bin/env bash
# Runs the test suites, each in a mocha process of its own, so one suite's failure (a hung test
# server, a crashed SDK runtime) cannot take the others down. Two lanes run side by side:
# - the integration suite on the local stack (test/integration/*.test.ts), which mostly waits;
# - the unit suite, the workflow suite (Temporal's test servers), then the capture suite
#   (test/integration/capture/), on a PostgreSQL database of its own: logical decoding is per
#   database, so its load and its slots never reach the other lane's pipelines, and the other
#   lane's never reach it. Its output is kept in .cache/test-artifacts/ and printed once done.
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

side_suites=(unit workflow capture)
(
  rc=0
  suite unit "$logs/unit.log" "test/unit/**/*.test.ts" --ignore "test/unit/workflows/**" || rc=1
  suite workflow "$logs/workflow.log" "test/unit/workflows/*.test.ts" || rc=1
  PGDATABASE=cdc_capture_tests suite capture "$logs/capture.log" "test/integration/capture/*.test.ts" || rc=1
  exit "$rc"
) &
side=$!

status=0
t0=$SECONDS
npx mocha "test/integration/*.test.ts" || status=1
integration="integration suite: $((SECONDS - t0)) s, exit $status"

wait "$side" || status=1
for s in "${side_suites[@]}"; do
  echo "──── $s suite (ran beside the integration suite) ────"
  cat "$logs/$s.log"
done
echo "$integration"
echo "test suites: $((SECONDS - started)) s in all, exit $status"
exit "$status"
