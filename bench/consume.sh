#!/usr/bin/env bash
# Consumer benchmark: `hookline consume` with a log sink (batch 100) draining a stream of
# 1 KiB schema-1 entries, vs a raw XREADGROUP COUNT 100 + XACK loop (bench/src/bin/
# rawconsume.rs) draining the same stream through its own group, on the same redis-server.
#
#   bench/consume.sh [EVENTS]        default: 200000
#   SUMMARIES=true bench/consume.sh  the same process also runs the built-in summary group
#                                    (off by default here: delivery throughput alone)
#
# Runs hookline twice, each draining the stream through its own group: without and with the
# recording of delivery attempts (`consumer.record_attempts`), and prints what recording costs.
# Prints events/s of each and the ratios. Run on demand, not in CI. Needs redis-server,
# redis-benchmark, redis-cli and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
events=${1:-200000}

cargo build --release --quiet --bin hookline --bin rawconsume
source bench/lib.sh
port=$(free_port)
cleanup() { kill "${consume_pid:-}" "$redis_pid" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
start_redis "$port"

payload=$(head -c 1024 /dev/zero | tr '\0' 'x')
redis-benchmark -p "$port" -c 16 -P 16 -n "$events" -r 1000000000 XADD 'hookline:events:{0}' '*' \
  v 1 id __rand_int__ tenant default source github provider github event_type push \
  delivery_id __rand_int__ received_at 1 content_type application/json headers '{}' \
  encoding identity payload "$payload" >/dev/null
echo "stream filled with $(redis-cli -p "$port" xlen 'hookline:events:{0}') entries"

raw=$(target/release/rawconsume --url "redis://127.0.0.1:$port" --stream 'hookline:events:{0}')

# drain GROUP RECORD_ATTEMPTS: runs `hookline consume` until GROUP has read and acknowledged
# the whole stream; prints its events/s.
drain() {
  cat >"$work/hookline.yaml" <<YAML
redis: {url: "redis://127.0.0.1:$port"}
consumer:
  groups:
    $1: {sink: {type: log}, batch_size: 100}
  summaries: ${SUMMARIES:-false}
  record_attempts: $2
observability: {log_level: warn, log_format: json}
YAML
  local started finished
  started=$(date +%s.%N)
  target/release/hookline consume --config "$work/hookline.yaml" 2>"$work/consume.log" &
  consume_pid=$!
  # Drained when the group has neither lag nor pending entries.
  until [ "$(redis-cli -p "$port" xinfo groups 'hookline:events:{0}' | python3 -c '
import sys
lines = sys.stdin.read().split()
g = [i for i, w in enumerate(lines) if w == sys.argv[1]]
if not g: print("no"); raise SystemExit
rest = lines[g[0]:]
pending = rest[rest.index("pending") + 1]; lag = rest[rest.index("lag") + 1]
print("yes" if pending == "0" and lag == "0" else "no")' "$1")" = yes ]; do sleep 0.02; done
  finished=$(date +%s.%N)
  kill "$consume_pid"
  wait "$consume_pid" 2>/dev/null || true
  python3 -c "import sys; print($events / (float(sys.argv[2]) - float(sys.argv[1])))" "$started" "$finished"
}
unrecorded=$(drain unrecorded false)
recorded=$(drain recorded true)
echo "attempt batches recorded: $(redis-cli -p "$port" xlen 'hookline:attempts:{0}')"
python3 - "$raw" "$unrecorded" "$recorded" <<'PY'
import json, sys
raw = json.loads(sys.argv[1])["rate"]; unrecorded, recorded = float(sys.argv[2]), float(sys.argv[3])
print("| consumer | events/s | ratio |\n|---|---:|---:|")
print(f"| raw XREADGROUP COUNT 100 + XACK loop | {raw:,.0f} | 1.00x |")
print(f"| hookline consume, log sink, batch 100, `record_attempts: false` | {unrecorded:,.0f} | {unrecorded / raw:.2f}x |")
print(f"| hookline consume, log sink, batch 100 (attempts recorded) | {recorded:,.0f} | {recorded / raw:.2f}x |")
print(f"\nrecording attempts costs {1 - recorded / unrecorded:.1%} of consumer throughput")
PY
