# Shared by the bench scripts: a free loopback port, and a private redis-server in a temp
# directory that the calling script's EXIT trap stops. Source it; it sets $work.
work=$(mktemp -d)

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_redis PORT: starts redis-server without persistence and waits until it answers; sets
# $redis_pid.
start_redis() {
  redis-server --port "$1" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" \
    --logfile "$work/redis.log" &
  redis_pid=$!
  until redis-cli -p "$1" ping >/dev/null 2>&1; do sleep 0.05; done
}

# bench_config REDIS_PORT BLOOM [REDIS_KEYS]: writes $work/hookline.yaml for the benchmarks:
# one GitHub source (secret bench-secret), the bloom filter on or off (true/false), quiet
# logs; REDIS_KEYS (e.g. ", wait: {…}") is added to the `redis` section.
bench_config() {
  cat >"$work/hookline.yaml" <<YAML
redis: {url: "redis://127.0.0.1:$1"${3:-}}
sources:
  github: {provider: github, secrets: ["bench-secret"]}
dedup: {bloom: {enabled: $2}}
observability: {log_level: warn, log_format: json}
YAML
}

# wait_ready HTTP_PORT: waits until hookline answers /readyz there.
wait_ready() {
  until curl -sf "http://127.0.0.1:$1/readyz" >/dev/null 2>&1; do sleep 0.05; done
}
