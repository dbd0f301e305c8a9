#!/usr/bin/env bash
# Lifecycle: the GitHub corpus appended as ingest stores it; hot bytes per event (Redis
# MEMORY USAGE of the stream) vs warm bytes per event after `compact`, then the archive job's
# throughput to a local moto_server (bench/src/bin/lifecycle.rs).
#   bench/lifecycle.sh [--rounds N]     default 1 (repeats compress unrealistically well)
# Run on demand, not in CI. Needs redis-server, moto_server and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin lifecycle
source bench/lib.sh
port=$(free_port)
s3_port=$(free_port)
cleanup() { kill "$redis_pid" "${moto_pid:-}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
start_redis "$port"
moto_server -H 127.0.0.1 -p "$s3_port" >/dev/null 2>&1 & moto_pid=$!
until python3 -c "import socket; socket.create_connection(('127.0.0.1', $s3_port))" 2>/dev/null; do sleep 0.1; done
target/release/lifecycle --url "redis://127.0.0.1:$port" --s3-endpoint "http://127.0.0.1:$s3_port" \
  --corpus "${HOOKLINE_CORPUS:-tests/corpus/github-examples.json}" "$@"
