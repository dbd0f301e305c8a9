#!/usr/bin/env bash
# End-to-end latency: GitHub-signed webhooks at a steady rate into `hookline serve`, a
# `hookline consume` group with an http sink delivering them back to the sender
# (bench/src/bin/e2e.rs), p50/p99 from sending the webhook to the sink's call.
#
#   bench/e2e.sh [RATE] [SECONDS]      default: 1000 events/s for 10 s
#
# Run on demand, not in CI. Needs redis-server, curl and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-1000}
seconds=${2:-10}

cargo build --release --quiet --bin hookline --bin e2e
source bench/lib.sh
redis_port=$(free_port); http_port=$(free_port); sink_port=$(free_port)
cleanup() { kill "${serve_pid:-}" "${consume_pid:-}" "$redis_pid" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
start_redis "$redis_port"
cat >"$work/hookline.yaml" <<YAML
redis: {url: "redis://127.0.0.1:$redis_port"}
sources:
  github: {provider: github, secrets: ["bench-secret"]}
consumer:
  groups:
    e2e:
      sink: {type: http, url: "http://127.0.0.1:$sink_port/hook", secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", timeout: 5s}
observability: {log_level: warn, log_format: json}
YAML
target/release/hookline serve --config "$work/hookline.yaml" --listen "127.0.0.1:$http_port" 2>"$work/serve.log" & serve_pid=$!
target/release/hookline consume --config "$work/hookline.yaml" 2>"$work/consume.log" & consume_pid=$!
wait_ready "$http_port"
target/release/e2e --addr "127.0.0.1:$http_port" --listen "127.0.0.1:$sink_port" \
  --secret bench-secret --rate "$rate" --seconds "$seconds"
