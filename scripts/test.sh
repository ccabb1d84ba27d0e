#!/usr/bin/env bash
# The README's test command: installs what the tests need, then runs every test with every
# feature (the Redis tests start a real redis-server on a free loopback port).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v redis-server >/dev/null 2>&1; then
    echo "== installing redis-server (the Redis rate-store tests start a real one)" >&2
    if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server >/dev/null
fi

# Real third-party MCP servers from npm, at pinned versions, for the proxy tests.
NPM_SERVERS="@modelcontextprotocol/server-everything@2026.8.31 @modelcontextprotocol/server-filesystem@2026.8.31"
if [ ! -x target/npm/node_modules/.bin/mcp-server-everything ] || [ ! -x target/npm/node_modules/.bin/mcp-server-filesystem ]; then
    echo "== installing MCP servers from npm: $NPM_SERVERS" >&2
    mkdir -p target/npm
    (cd target/npm && npm install --no-audit --no-fund --silent $NPM_SERVERS >/dev/null)
fi

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace --all-features "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One closing line with the totals over every test binary and doc-test run.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
