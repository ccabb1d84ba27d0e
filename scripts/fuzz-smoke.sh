#!/usr/bin/env bash
# A short run of every fuzz target (CI runs it; `FUZZ_SECONDS` per target, default 60).
# Needs cargo-fuzz (installed here when missing); uses libFuzzer without sanitizers on the stable
# toolchain (RUSTC_BOOTSTRAP). A target that finds a failure stops the script with its input
# saved under fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
SECONDS_EACH="${FUZZ_SECONDS:-60}"
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz" >&2
    cargo install --locked --quiet cargo-fuzz
fi
export RUSTC_BOOTSTRAP=1
echo "== building the fuzz targets" >&2
build_log="$(mktemp)"
if ! cargo fuzz build -s none >"$build_log" 2>&1; then
    tail -40 "$build_log" >&2
    exit 1
fi
rm -f "$build_log"
for target in $(cargo fuzz list); do
    mkdir -p "corpus/$target"
    echo "== fuzz $target (${SECONDS_EACH}s)" >&2
    # The corpus is read, and what the run adds is thrown away (a scratch copy).
    scratch="$(mktemp -d)"
    log="$(mktemp)"
    cp -r "corpus/$target/." "$scratch/" 2>/dev/null || true
    if ! cargo fuzz run -s none "$target" "$scratch" -- -max_total_time="$SECONDS_EACH" >"$log" 2>&1; then
        tail -40 "$log" >&2
        echo "fuzz target $target failed; the input is in fuzz/artifacts/$target/" >&2
        exit 1
    fi
    grep -E "^Done" "$log" || true
    rm -rf "$scratch" "$log"
done
