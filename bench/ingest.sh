#!/usr/bin/env bash
# Ingest benchmark: hookline `POST /webhooks/github` (1 KiB GitHub-signed bodies, unique
# delivery ids) vs redis-benchmark's unpipelined XADD of a 1 KiB field, at the same
# concurrency, on the same machine and the same (private) redis-server, in one run.
#
#   bench/ingest.sh [SECONDS_PER_RUN] [CONNECTIONS...]     default: 10 s, 1 16 64
#   BLOOM=false bench/ingest.sh 10 64  the same without the bloom filter (to price it)
#   WAIT=1 bench/ingest.sh 10 64       with a replica and redis.wait {replicas: 1}: the price
#                                      of replica-acknowledged 202s
#   PROFILE=1 bench/ingest.sh 10 64    also records `perf record -a` during the hookline run
#                                      and prints CPU by process and hookline's top symbols
#
# A third column runs hookline's own append script (shared/src/redis/append.lua, one event
# per call, unique identities) through redis-benchmark: the Redis-side cost of an append,
# without HTTP, verification or batching.
#
# Prints a Markdown table with the ratios hookline / XADD and script / XADD (throughput), and
# the CPU each event costs during the hookline run: redis-server's (`INFO cpu` delta) and the
# hookline process's (`/proc/PID/stat` utime + stime delta), each divided by the requests
# answered.
# Run on demand, not in CI. Needs redis-server, redis-benchmark, curl and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
shift || true
levels=("${@:-1 16 64}")
read -r -a levels <<<"${levels[*]}"
corpus=${HOOKLINE_CORPUS:-tests/corpus/github-examples.json}

cargo build --release --quiet --bin hookline --bin loadgen
source bench/lib.sh
redis_port=$(free_port)
http_port=$(free_port)
cleanup() {
  kill "$serve_pid" "$redis_pid" "${replica_pid:-}" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

start_redis "$redis_port"
wait_setting=""
if [ -n "${WAIT:-}" ]; then
  replica_port=$(free_port)
  mkdir -p "$work/replica"
  redis-server --port "$replica_port" --bind 127.0.0.1 --save "" --appendonly no \
    --dir "$work/replica" --logfile "$work/replica/redis.log" \
    --replicaof 127.0.0.1 "$redis_port" &
  replica_pid=$!
  until redis-cli -p "$replica_port" info replication | grep -q master_link_status:up; do
    sleep 0.05
  done
  wait_setting=", wait: {replicas: 1, timeout: 500ms}"
fi

bench_config "$redis_port" "${BLOOM:-true}" "$wait_setting"
target/release/hookline serve --config "$work/hookline.yaml" --listen "127.0.0.1:$http_port" \
  2>"$work/hookline.log" & serve_pid=$!
wait_ready "$http_port"

payload=$(head -c 1024 /dev/zero | tr '\0' 'x')
sha=$(redis-cli -p "$redis_port" script load "$(cat shared/src/redis/append.lua)")
# One event per call, window check only (K = 0: redis-benchmark's zero-padded __rand_int__
# cannot stand in for bit offsets); the hookline column runs the bloom filter for real.
script_args=(EVALSHA "$sha" 7 'hookline:events:{0}' 'hookline:suspects:{0}'
  'hookline:bloom:{0}:current' 'hookline:bloom:{0}:0' 'hookline:bloom:{0}:1'
  'hookline:summary:{0}:2026-11-25' 'hookline:dedup:{0}:github:push:__rand_int__'
  12 0 0 345600 0 v id tenant source provider event_type delivery_id received_at
  content_type headers encoding payload
  300000 "id-__rand_int__" $'default\x1fgithub\x1fduplicates'
  1 "id-__rand_int__" default github github push __rand_int__ 1732470000000
  application/json '{}' identity "$payload")
bench() { # connections requests args... -> "rps p50 p99"
  local c=$1 n=$2; shift 2
  redis-cli -p "$redis_port" flushall >/dev/null
  redis-benchmark -p "$redis_port" -c "$c" -n "$n" -r 1000000000 -P 1 --csv "$@" | tail -n 1 |
    python3 -c 'import sys; f=sys.stdin.read().replace("\"","").split(","); print(f[1], f[4], f[6])'
}
redis_cpu() { # seconds of CPU redis-server has used
  redis-cli -p "$redis_port" info cpu | tr -d '\r' |
    awk -F: '/^used_cpu_(sys|user):/ { s += $2 } END { printf "%.6f", s }'
}
hookline_cpu() { # seconds of CPU the hookline process has used
  awk -v tck="$(getconf CLK_TCK)" '{ printf "%.6f", ($14 + $15) / tck }' "/proc/$serve_pid/stat"
}
echo "| connections | hookline req/s | p50 ms | p99 ms | XADD req/s | p50 ms | p99 ms | hookline / XADD | append script req/s | script / XADD | Redis CPU µs/event | hookline CPU µs/request |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for c in "${levels[@]}"; do
  redis-cli -p "$redis_port" flushall >/dev/null
  if [ -n "${PROFILE:-}" ]; then
    perf record -q -F 999 -g -a -o "$work/perf.data" -- sleep "$seconds" >/dev/null 2>&1 &
    perf_pid=$!
  fi
  cpu_before="$(redis_cpu) $(hookline_cpu)"
  ours=$(target/release/loadgen --addr "127.0.0.1:$http_port" --secret bench-secret \
    --connections "$c" --seconds "$seconds" --corpus "$corpus")
  cpu_after="$(redis_cpu) $(hookline_cpu)"
  if [ -n "${PROFILE:-}" ]; then
    wait "$perf_pid" || true
    {
      echo "CPU samples by process (c=$c):"
      perf report -i "$work/perf.data" --no-children --sort comm --stdio -g none 2>/dev/null | grep '%' | head -6 || true
      echo "hookline's top symbols (share of all samples):"
      perf report -i "$work/perf.data" --no-children --comm tokio-rt-worker --sort dso,symbol \
        --stdio -g none 2>/dev/null | grep '%' | head -25 | cut -c1-120 || true
    } >&2
  fi
  # Size the Redis runs from our own rate so all run for a similar time.
  n=$(python3 -c "import json,sys; print(max(20000, int(json.loads(sys.argv[1])['rps'] * $seconds * 2)))" "$ours")
  read -r xadd_rps xadd_p50 xadd_p99 < <(bench "$c" "$n" XADD hookline:bench '*' payload "$payload")
  read -r script_rps _ _ < <(bench "$c" "$n" "${script_args[@]}")
  python3 - "$c" "$ours" "$xadd_rps" "$xadd_p50" "$xadd_p99" "$script_rps" $cpu_before $cpu_after <<'PY'
import json, sys
c, ours = sys.argv[1], json.loads(sys.argv[2])
rps, p50, p99, script = (float(x) for x in sys.argv[3:7])
redis0, ours0, redis1, ours1 = (float(x) for x in sys.argv[7:11])
answered = max(1, sum(ours["statuses"].values()))
redis_us = (redis1 - redis0) * 1e6 / answered
ours_us = (ours1 - ours0) * 1e6 / answered
bad = {k: v for k, v in ours["statuses"].items() if k != "202"}
note = f" (non-202: {bad})" if bad else ""
print(f"| {c} | {ours['rps']:,.0f} | {ours['p50_ms']:.2f} | {ours['p99_ms']:.2f} | {rps:,.0f} | {p50:.2f} | {p99:.2f} "
      f"| {ours['rps']/rps:.2f}x{note} | {script:,.0f} | {script/rps:.2f}x | {redis_us:.1f} | {ours_us:.1f} |")
PY
done
