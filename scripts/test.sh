#!/usr/bin/env bash
# Runs the test suites, each in a mocha process of its own, so one suite's failure (a hung test
# server, a crashed SDK runtime) cannot take the others down: domain and activity unit tests,
# workflow tests (Temporal's test servers), then the integration tests on the local stack.
# Exits non-zero when any suite failed.
set -uo pipefail
cd "$(dirname "$0")/.."
status=0
npx mocha "test/unit/**/*.test.ts" --ignore "test/unit/workflows/**" || status=1
npx mocha "test/unit/workflows/*.test.ts" || status=1
npx mocha "test/integration/**/*.test.ts" || status=1
exit "$status"
