#!/usr/bin/env bash
# Warm-tier size: the GitHub corpus appended once as ingest stores it, hot bytes per
# event (Redis MEMORY USAGE of the stream) vs warm bytes per event after `compact`
# (bench/src/bin/warmsize.rs). Run on demand, not in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin warmsize
source bench/lib.sh
port=$(free_port)
cleanup() { kill "$redis_pid" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
start_redis "$port"
target/release/warmsize --url "redis://127.0.0.1:$port" --corpus "${HOOKLINE_CORPUS:-../shared/corpus/github-examples.json}" "$@"
