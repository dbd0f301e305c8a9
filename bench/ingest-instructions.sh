#!/usr/bin/env bash
# Instructions the hookline process executes per ingested webhook, counted by callgrind: a
# figure of hookline's own cost (HTTP, verification, identity, batching, RESP) that does not
# move with how busy the machine is, beside bench/append-instructions.sh for Redis's.
#
#   bench/ingest-instructions.sh [SECONDS] [CONNECTIONS]     default: 10 s, 16 connections
#
# Runs `hookline serve` under `valgrind --tool=callgrind` against a private redis-server,
# drives it with loadgen (GitHub-signed 1 KiB bodies, every request a new event) for SECONDS,
# and prints (instructions of that run − those of a run as long that served nothing) /
# requests answered, for bloom on and off. Under callgrind hookline runs ~50x slower, so batches are
# larger than at full speed; the count is for comparing builds, not a speed.
# Run on demand, not in CI. Needs redis-server, valgrind, curl and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
connections=${2:-16}
corpus=${HOOKLINE_CORPUS:-tests/corpus/github-examples.json}

cargo build --release --quiet --bin hookline --bin loadgen
source bench/lib.sh
trap 'kill "${serve_pid:-}" "${redis_pid:-}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

instructions() { # bloom (true/false), load (1: loadgen, 0: idle as long) -> "instructions requests"
  local redis_port http_port requests=0
  redis_port=$(free_port)
  http_port=$(free_port)
  start_redis "$redis_port"
  bench_config "$redis_port" "$1"
  rm -f "$work/callgrind.out"
  valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.out" \
    target/release/hookline serve --config "$work/hookline.yaml" \
    --listen "127.0.0.1:$http_port" >/dev/null 2>"$work/hookline.log" &
  serve_pid=$!
  wait_ready "$http_port"
  if [ "$2" = 1 ]; then
    requests=$(target/release/loadgen --addr "127.0.0.1:$http_port" --secret bench-secret \
      --connections "$connections" --seconds "$seconds" --corpus "$corpus" |
      python3 -c 'import json, sys; r = json.load(sys.stdin); assert set(r["statuses"]) == {"202"}, r; print(r["requests"])')
  else
    sleep "$seconds" # the background loops run as long as in the loaded run
  fi
  kill -TERM "$serve_pid"
  wait "$serve_pid" 2>/dev/null || true
  redis-cli -p "$redis_port" shutdown nosave >/dev/null 2>&1 || true
  wait "$redis_pid" 2>/dev/null || true
  echo "$(awk '/^summary:/ { print $2 }' "$work/callgrind.out") $requests"
}

echo "| bloom filter | requests | hookline instructions per request |"
echo "|---|---:|---:|"
for bloom in true false; do
  read -r idle _ < <(instructions "$bloom" 0)
  read -r loaded requests < <(instructions "$bloom" 1)
  python3 -c "import sys; b, r, l, i = sys.argv[1:]; r, l, i = int(r), int(l), int(i); \
print(f'| {\"on\" if b == \"true\" else \"off\"} | {r:,} | {(l - i) / r:,.0f} |')" \
    "$bloom" "$requests" "$loaded" "$idle"
done
