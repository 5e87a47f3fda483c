#!/usr/bin/env bash
# Runs the test suites, each in a mocha process of its own, so one suite's failure (a hung test
# server, a crashed SDK runtime) cannot take the others down: domain and activity unit tests,
# workflow tests (Temporal's test servers), and the integration tests on the local stack.
# The unit and workflow suites (about 3 minutes, less than one core) run one after the other
# beside the integration suite, which mostly waits on the local stack; their output is kept in
# .cache/test-artifacts/ and printed once they are done. Prints how long each suite took.
# Exits non-zero when any suite failed.
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

(
  rc=0
  suite unit "$logs/unit.log" "test/unit/**/*.test.ts" --ignore "test/unit/workflows/**" || rc=1
  suite workflow "$logs/workflow.log" "test/unit/workflows/*.test.ts" || rc=1
  exit "$rc"
) &
side=$!

status=0
t0=$SECONDS
npx mocha "test/integration/**/*.test.ts" || status=1
integration="integration suite: $((SECONDS - t0)) s, exit $status"

wait "$side" || status=1
for s in unit workflow; do
  echo "──── $s suite (ran beside the integration suite) ────"
  cat "$logs/$s.log"
done
echo "$integration"
echo "test suites: $((SECONDS - started)) s in all, exit $status"
exit "$status"
