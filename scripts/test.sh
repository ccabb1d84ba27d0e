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

cargo test --workspace --all-features "$@"
