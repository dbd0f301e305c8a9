#!/usr/bin/env bash
# Instructions redis-server executes per ingested event, counted by callgrind: the append
# script's cost as a figure that does not move with how busy the machine is (the CPU-time
# figures of bench/ingest.sh do, by ±20 % on a shared machine).
#
#   bench/append-instructions.sh [SECONDS]     default: 2 s of load per capture
#
# For bloom on and off: runs hookline under 64 connections of loadgen for SECONDS and records
# the script calls it sends (MONITOR), then replays that capture into a fresh redis-server
# under `valgrind --tool=callgrind` and prints (instructions of the replay run − those of an
# idle run) / events, beside the capture's events per script call. The script replayed is the
# one hookline loaded (shared/src/redis/append.lua of this checkout).
# Run on demand, not in CI. Needs redis-server, redis-cli, valgrind, curl and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-2}
corpus=${HOOKLINE_CORPUS:-tests/corpus/github-examples.json}

cargo build --release --quiet --bin hookline --bin loadgen
source bench/lib.sh
trap 'kill "${serve_pid:-}" "${redis_pid:-}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

capture() { # bloom (true/false) -> $work/calls.resp, prints "events calls"
  local redis_port http_port
  redis_port=$(free_port)
  http_port=$(free_port)
  start_redis "$redis_port"
  bench_config "$redis_port" "$1"
  target/release/hookline serve --config "$work/hookline.yaml" \
    --listen "127.0.0.1:$http_port" 2>"$work/hookline.log" &
  serve_pid=$!
  wait_ready "$http_port"
  redis-cli -p "$redis_port" monitor >"$work/monitor.txt" &
  local monitor_pid=$!
  target/release/loadgen --addr "127.0.0.1:$http_port" --secret bench-secret \
    --connections 64 --seconds "$seconds" --corpus "$corpus" >/dev/null
  kill "$monitor_pid" "$serve_pid"
  wait "$monitor_pid" "$serve_pid" 2>/dev/null || true
  redis-cli -p "$redis_port" shutdown nosave >/dev/null 2>&1 || true
  wait "$redis_pid" 2>/dev/null || true
  # MONITOR prints each argument quoted, with C escapes: turn the EVALSHA lines back into
  # the protocol (the sha is the same: the replay loads the same script).
  python3 - "$work/monitor.txt" "$work/calls.resp" <<'PY'
import re, sys
quoted = re.compile(rb'"((?:[^"\\]|\\.)*)"')
simple = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"a": b"\a", b"b": b"\b"}
def unescape(m):
    s = m.group(1)
    return re.sub(rb"\\(x[0-9a-f]{2}|.)", lambda e: bytes([int(e.group(1)[1:], 16)])
                  if e.group(1)[:1] == b"x" and len(e.group(1)) == 3
                  else simple.get(e.group(1), e.group(1)), s)
events = calls = 0
with open(sys.argv[1], "rb") as monitor, open(sys.argv[2], "wb") as out:
    for line in monitor:
        if b'"EVALSHA"' not in line:
            continue
        args = [unescape(m) for m in quoted.finditer(line)]
        events += int(args[2]) - 6
        calls += 1
        out.write(b"*%d\r\n" % len(args))
        for a in args:
            out.write(b"$%d\r\n%s\r\n" % (len(a), a))
print(events, calls)
PY
}

instructions() { # replay (0/1) -> callgrind's instruction total for a redis-server run
  local port
  port=$(free_port)
  rm -f "$work/callgrind.out"
  valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.out" redis-server \
    --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" >/dev/null 2>&1 &
  redis_pid=$!
  until redis-cli -p "$port" ping >/dev/null 2>&1; do sleep 0.2; done
  redis-cli -p "$port" -x script load <shared/src/redis/append.lua >/dev/null
  if [ "$1" = 1 ]; then
    redis-cli -p "$port" --pipe <"$work/calls.resp" >/dev/null
  fi
  redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
  wait "$redis_pid" 2>/dev/null || true
  awk '/^summary:/ { print $2 }' "$work/callgrind.out"
}

echo "| bloom filter | events | events per script call | redis-server instructions per event |"
echo "|---|---:|---:|---:|"
idle=$(instructions 0)
for bloom in true false; do
  read -r events calls < <(capture "$bloom")
  replayed=$(instructions 1)
  python3 -c "import sys; b, e, c, r, i = sys.argv[1:]; e, c, r, i = int(e), int(c), int(r), int(i); \
print(f'| {\"on\" if b == \"true\" else \"off\"} | {e:,} | {e / c:.1f} | {(r - i) / e:,.0f} |')" \
    "$bloom" "$events" "$calls" "$replayed" "$idle"
done
