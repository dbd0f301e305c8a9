#!/usr/bin/env bash
# End-to-end test of the container image and the compose stack, with podman:
#
#   1. image:   infra/container/build.sh (HOOKLINE_BIN=path skips the cargo build)
#   2. serve:   the image runs `hookline serve` as uid 65532 with a read-only root filesystem on
#               the host network, against a redis-server started here on a free port; a signed
#               GitHub webhook (a payload of the corpus in tests/corpus) answers 202 and lands in
#               hookline:events:{0}; a repeat answers 200 duplicate; `podman stop` (SIGTERM)
#               ends it with exit code 0 within the grace period
#   3. compose: compose.yaml + compose.test.yaml (everything on the host network, free ports)
#               with podman-compose; a signed webhook goes through serve -> Redis -> consume ->
#               an HTTP receiver started here, which checks the Standard Webhooks signature;
#               serve, consume and schedule pass `hookline healthcheck`, export the metrics
#               the alerts use, and consume and schedule exit 0 on SIGTERM
#
# Everything is removed at exit. Needs root or rootless podman; installs podman, buildah,
# runc, redis (apt) and podman-compose (pip) when missing. The container environment is taken
# as given; on machines without systemd and registries, call it as e.g.
#   CONTAINERS_CONF=/path/containers.conf STORAGE_DRIVER=vfs BUILDAH_ISOLATION=chroot infra/test.sh
#
# Environment: HOOKLINE_IMAGE (default localhost/hookline:dev, built here; SKIP_IMAGE_BUILD=1
# tests it as it is, e.g. an image of the multi-stage Containerfile), HOOKLINE_BIN,
# REDIS_IMAGE (default: an image built here FROM scratch around the host's redis-server; give
# e.g. docker.io/library/redis:7 to use that instead), HOOKLINE_CORPUS (GitHub payloads,
# default tests/corpus/github-examples.json).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

image=${HOOKLINE_IMAGE:-localhost/hookline:dev}
corpus=${HOOKLINE_CORPUS:-$root/tests/corpus/github-examples.json}
started=$(date +%s.%N)
last=$started
timings=()

# phase NAME: prints and records the time since the previous phase.
phase() {
  local now
  now=$(date +%s.%N)
  timings+=("$(printf '%-34s %6.1fs' "$1" "$(echo "$now - $last" | bc)")")
  printf '   (%s: %.1fs)\n' "$1" "$(echo "$now - $last" | bc)"
  last=$now
}
fail() {
  echo "FAIL: $*" >&2
  exit 1
}
# stop_cleanly LABEL CONTAINER GRACE: `podman stop` (SIGTERM) must end it with exit code 0
# within GRACE seconds.
stop_cleanly() {
  local started took code
  started=$(date +%s.%N)
  podman stop -t "$3" "$2" >/dev/null
  took=$(echo "$(date +%s.%N) - $started" | bc)
  code=$(podman inspect --format '{{.State.ExitCode}}' "$2")
  [ "$code" = 0 ] || fail "$1 exited $code on SIGTERM"
  (($(echo "$took < $3" | bc))) || fail "$1 needed ${took}s to stop (grace $3s)"
  printf '%s: exit code 0 %.1fs after SIGTERM\n' "$1" "$took"
}
# listening_address CONTAINER MESSAGE SECONDS: the `address` of the container's JSON log line
# with that message, once it appears.
listening_address() {
  local deadline=$((SECONDS + $3)) addr
  while [ $SECONDS -lt $deadline ]; do
    addr=$(podman logs "$1" 2>&1 | python3 -c '
import json, sys
for line in sys.stdin:
    try:
        fields = json.loads(line)
    except ValueError:
        continue
    if fields.get("message") == sys.argv[1] and "address" in fields:
        print(fields["address"])
        break
' "$2")
    [ -n "$addr" ] && echo "$addr" && return 0
    sleep 0.2
  done
  return 1
}
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
# wait_http URL SECONDS: until URL answers 200.
wait_http() {
  local deadline=$((SECONDS + $2))
  until [ "$(curl -s -o /dev/null -w '%{http_code}' "$1")" = 200 ]; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.2
  done
}

# ------------------------------------------------------------------------------ dependencies
echo "== dependencies"
# shellcheck source=scripts/deps.sh
source scripts/deps.sh
apt_install podman:podman buildah:buildah runc:runc redis-server:redis-server \
  redis-cli:redis-tools curl:curl bc:bc
pip_install podman-compose:podman-compose==1.6.0
[ -f "$corpus" ] || fail "no GitHub corpus at $corpus (set HOOKLINE_CORPUS)"

work=$(mktemp -d)
chmod 0755 "$work" # the containers (uid 65532) read their configs from here
serve_container=hookline-test-serve-$$
project=hookline-test-$$
pids=()
compose=()
# compose_down: the project's containers with their anonymous volumes (podman-compose down
# leaves those), then the named volumes and the network.
compose_down() {
  local ids
  mapfile -t ids < <(podman ps -a -q --filter "label=io.podman.compose.project=$project")
  [ ${#ids[@]} -eq 0 ] || podman rm -f -v -t 10 "${ids[@]}" >/dev/null 2>&1 || true
  "${compose[@]}" down -v -t 10 >/dev/null 2>&1 || true
}
cleanup() {
  local rc=$?
  set +e
  if [ ${#compose[@]} -gt 0 ]; then
    if [ $rc -ne 0 ]; then
      echo "== compose logs (test failed)"
      "${compose[@]}" logs 2>&1 | tail -60
    fi
    compose_down

  fi
  if podman container exists "$serve_container" 2>/dev/null; then
    [ $rc -eq 0 ] || podman logs "$serve_container" 2>&1 | tail -30
    podman rm -f -v "$serve_container" >/dev/null 2>&1
  fi
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$work"
  exit $rc
}
trap cleanup EXIT
phase dependencies

# ------------------------------------------------------------------------------------- image
echo "== image $image"
if [ "${SKIP_IMAGE_BUILD:-0}" = 1 ]; then
  podman image exists "$image" || fail "SKIP_IMAGE_BUILD=1 but there is no image $image"
  echo "using the existing image (SKIP_IMAGE_BUILD=1)"
else
  IMAGE=$image infra/container/build.sh
fi
podman run --rm "$image" --version >/dev/null || fail "the image does not run"
phase "image build"

# signed_webhook PAYLOAD_INDEX SECRET OUT_DIR: writes OUT_DIR/body (a push payload of the
# corpus, compact JSON), OUT_DIR/signature and OUT_DIR/delivery.
signed_webhook() {
  python3 - "$corpus" "$1" "$2" "$3" <<'PY'
import hashlib, hmac, json, sys, uuid
corpus, index, secret, out = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode(), sys.argv[4]
groups = json.load(open(corpus))
pushes = next(g["examples"] for g in groups if g["name"] == "push")
body = json.dumps(pushes[index % len(pushes)], separators=(",", ":")).encode()
open(f"{out}/body", "wb").write(body)
open(f"{out}/signature", "w").write("sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest())
open(f"{out}/delivery", "w").write(str(uuid.uuid4()))
PY
}
# post_webhook URL DIR: POSTs DIR's webhook as GitHub does; prints the status, saves DIR/response.
post_webhook() {
  curl -s -o "$2/response" -w '%{http_code}' -X POST "$1" \
    -H 'Content-Type: application/json' \
    -H 'X-GitHub-Event: push' \
    -H "X-GitHub-Delivery: $(cat "$2/delivery")" \
    -H "X-Hub-Signature-256: $(cat "$2/signature")" \
    --data-binary "@$2/body"
}

# ------------------------------------------------------------------ serve in a single container
echo "== serve: read-only, uid 65532, host network"
github_secret=$(python3 -c 'import secrets; print(secrets.token_hex(20))')
redis_port=$(free_port)
mkdir -p "$work/redis" "$work/serve" "$work/hook1"
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
  --dir "$work/redis" --logfile "$work/redis/redis.log" &
pids+=($!)
until redis-cli -p "$redis_port" ping >/dev/null 2>&1; do sleep 0.05; done
cat >"$work/serve/hookline.yaml" <<'YAML'
sources:
  github:
    provider: github
    secrets: ["${GITHUB_SECRET}"]
observability:
  log_format: json
YAML
chmod 0755 "$work/serve"
chmod 0644 "$work/serve/hookline.yaml"
# Port 0: serve binds a free port itself and logs it (`ingest listening`, `address`).
podman run -d --name "$serve_container" --user 65532 --read-only --network host \
  -v "$work/serve:/etc/hookline:ro" \
  -e GITHUB_SECRET="$github_secret" -e HOOKLINE_REDIS_URL="redis://127.0.0.1:$redis_port" \
  "$image" serve --config /etc/hookline/hookline.yaml --listen 127.0.0.1:0 >/dev/null
serve_addr=$(listening_address "$serve_container" "ingest listening" 30) ||
  fail "serve logged no listening address within 30s: $(podman logs "$serve_container" 2>&1)"
wait_http "http://$serve_addr/readyz" 30 || fail "serve not ready within 30s"
[ "$(podman inspect --format '{{.Config.User}}' "$serve_container")" = 65532 ] ||
  fail "the container does not run as 65532"
phase "serve: start until ready"

signed_webhook 0 "$github_secret" "$work/hook1"
status=$(post_webhook "http://$serve_addr/webhooks/github" "$work/hook1")
[ "$status" = 202 ] || fail "signed webhook answered $status: $(cat "$work/hook1/response")"
grep -q '"duplicate":false' "$work/hook1/response" || fail "unexpected body $(cat "$work/hook1/response")"
len=$(redis-cli -p "$redis_port" XLEN 'hookline:events:{0}')
[ "$len" = 1 ] || fail "XLEN hookline:events:{0} is $len, expected 1"
status=$(post_webhook "http://$serve_addr/webhooks/github" "$work/hook1")
if [ "$status" != 200 ] || ! grep -q '"duplicate":true' "$work/hook1/response"; then
  fail "the repeat answered $status: $(cat "$work/hook1/response")"
fi
echo "bad" >"$work/hook1/signature"
status=$(post_webhook "http://$serve_addr/webhooks/github" "$work/hook1")
[ "$status" = 401 ] || fail "a wrong signature answered $status"
curl -s "http://$serve_addr/metrics" | grep -q '^hookline_ingest_requests_total' ||
  fail "/metrics has no hookline_ingest_requests_total"
echo "202 -> 1 entry in hookline:events:{0}; repeat 200 duplicate; bad signature 401; /metrics ok"
phase "serve: webhooks"

stop_cleanly serve "$serve_container" 30
podman rm -v "$serve_container" >/dev/null # -v: the image's anonymous /var/lib/hookline
phase "serve: stop (SIGTERM)"

# --------------------------------------------------------------------------------- compose stack
echo "== compose: redis, serve, consume, schedule (podman-compose, host network)"
if [ -z "${REDIS_IMAGE:-}" ]; then
  # The host's redis-server FROM scratch, the way build.sh packages hookline; /data belongs
  # to 65532, the user it runs as.
  REDIS_IMAGE=localhost/hookline-test-redis:local
  mkdir -p "$work/redis-image/data"
  infra/container/scratch-rootfs.sh "$work/redis-image/rootfs" "$(command -v redis-server)" \
    "$(command -v redis-cli)"
  cat >"$work/redis-image/Containerfile" <<'EOF'
FROM scratch
COPY rootfs/ /
COPY --chown=65532:65532 data/ /data/
ENV PATH=/usr/local/bin
USER 65532:65532
WORKDIR /data
VOLUME ["/data"]
CMD ["redis-server"]
EOF
  podman build -q -t "$REDIS_IMAGE" "$work/redis-image" >/dev/null
fi
export REDIS_IMAGE HOOKLINE_IMAGE=$image

sink_port=$(free_port)
mkdir -p "$work/sink"
export APP_WEBHOOK_SECRET
APP_WEBHOOK_SECRET="whsec_$(python3 -c 'import base64, secrets; print(base64.b64encode(secrets.token_bytes(24)).decode())')"
# The receiver: every POST's path, headers and body in sink/N.json; answers 204.
cat >"$work/sink.py" <<'PY'
import base64, http.server, json, os, sys
out = sys.argv[2]
class Sink(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        n = len(os.listdir(out))
        with open(f"{out}/{n}.tmp", "w") as f:
            json.dump({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                       "body_b64": base64.b64encode(body).decode()}, f)
        os.rename(f"{out}/{n}.tmp", f"{out}/{n}.json")
        self.send_response(204)
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Sink).serve_forever()
PY
python3 "$work/sink.py" "$sink_port" "$work/sink" &
pids+=($!)

export REDIS_PASSWORD GITHUB_SECRET APP_WEBHOOK_URL TEST_REDIS_PORT TEST_SERVE_PORT TEST_CONFIG_DIR
REDIS_PASSWORD=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
GITHUB_SECRET=$github_secret
APP_WEBHOOK_URL="http://127.0.0.1:$sink_port/hooks"
TEST_REDIS_PORT=$(free_port)
TEST_SERVE_PORT=$(free_port)
TEST_CONFIG_DIR=$work/compose-config
serve_ops_port=$(free_port)
consume_port=$(free_port)
schedule_port=$(free_port)
mkdir -p "$TEST_CONFIG_DIR"
# The roles share the host's network: hookline.yaml with their own ops ports.
for role in serve:$serve_ops_port consume:$consume_port schedule:$schedule_port; do
  sed "s/^  listen: 0.0.0.0:9090/  listen: 127.0.0.1:${role#*:}/" infra/compose/hookline.yaml \
    >"$TEST_CONFIG_DIR/${role%%:*}.yaml"
  grep -q "listen: 127.0.0.1:${role#*:}" "$TEST_CONFIG_DIR/${role%%:*}.yaml" ||
    fail "observability.listen not found in infra/compose/hookline.yaml"
done
chmod 0755 "$TEST_CONFIG_DIR"
chmod 0644 "$TEST_CONFIG_DIR"/*.yaml
: >"$work/empty.env" # not the .env a user may keep beside compose.yaml

compose=(podman-compose --env-file "$work/empty.env" -p "$project"
  -f infra/compose/compose.yaml -f infra/compose/compose.test.yaml)
"${compose[@]}" up -d >"$work/compose-up.log" 2>&1 || {
  cat "$work/compose-up.log"
  fail "podman-compose up failed"
}
export REDISCLI_AUTH=$REDIS_PASSWORD
deadline=$((SECONDS + 30))
until redis-cli -p "$TEST_REDIS_PORT" ping 2>/dev/null | grep -q PONG; do
  [ $SECONDS -lt $deadline ] || fail "compose redis not answering within 30s"
  sleep 0.2
done
[ "$(redis-cli -p "$TEST_REDIS_PORT" CONFIG GET appendonly | tail -1)" = yes ] ||
  fail "compose redis does not run with infra/redis/redis.conf (appendonly)"
[ "$(redis-cli -p "$TEST_REDIS_PORT" CONFIG GET maxmemory-policy | tail -1)" = noeviction ] ||
  fail "compose redis maxmemory-policy is not noeviction"
wait_http "http://127.0.0.1:$serve_ops_port/readyz" 60 || fail "compose serve not ready within 60s"
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$TEST_SERVE_PORT/metrics")" = 404 ] ||
  fail "compose serve answers /metrics on its public port"
wait_http "http://127.0.0.1:$consume_port/readyz" 60 || fail "compose consume not ready within 60s"
wait_http "http://127.0.0.1:$schedule_port/readyz" 60 || fail "compose schedule not ready within 60s"
echo "redis (AOF, noeviction), serve, consume and schedule ready"
for svc in serve:$serve_ops_port consume:$consume_port schedule:$schedule_port; do
  podman exec "${project}_${svc%%:*}_1" /usr/local/bin/hookline healthcheck \
    --url "http://127.0.0.1:${svc#*:}/readyz" || fail "hookline healthcheck failed in ${svc%%:*}"
done
echo "hookline healthcheck: ok in serve, consume and schedule"
phase "compose: up until ready"

mkdir -p "$work/hook2"
signed_webhook 1 "$GITHUB_SECRET" "$work/hook2"
status=$(post_webhook "http://127.0.0.1:$TEST_SERVE_PORT/webhooks/github" "$work/hook2")
[ "$status" = 202 ] || fail "compose: signed webhook answered $status: $(cat "$work/hook2/response")"
deadline=$((SECONDS + 30))
until [ -f "$work/sink/0.json" ]; do
  [ $SECONDS -lt $deadline ] || fail "compose: no delivery to the sink within 30s"
  sleep 0.1
done
python3 - "$work/sink/0.json" "$work/hook2" "$APP_WEBHOOK_SECRET" <<'PY' || fail "compose: delivery is wrong"
import base64, hashlib, hmac, json, sys
got = json.load(open(sys.argv[1]))
hook, secret = sys.argv[2], sys.argv[3]
sent = open(f"{hook}/body", "rb").read()
event_id = json.load(open(f"{hook}/response"))["id"]
h = got["headers"]
body = base64.b64decode(got["body_b64"])
assert got["path"] == "/hooks", got["path"]
assert body == sent, "delivered body differs from the webhook's bytes"
assert h["webhook-id"] == event_id, (h["webhook-id"], event_id)
assert h.get("hookline-source") == "github" and h.get("hookline-event-type") == "push", h
key = base64.b64decode(secret.removeprefix("whsec_"))
signed = f'{h["webhook-id"]}.{h["webhook-timestamp"]}.'.encode() + body
expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
assert f"v1,{expected}" in h["webhook-signature"].split(" "), "bad Standard Webhooks signature"
print(f"delivered to the sink: event {event_id}, body identical, Standard Webhooks signature valid")
PY
phase "compose: webhook -> sink"

# The metrics the alerts and the dashboard use (infra/observability), as each role exports them.
check_metrics() { # check_metrics PORT 'name{label="value",...}'...: each series is there
  local file=$work/metrics-$1.txt
  curl -s "http://127.0.0.1:$1/metrics" >"$file"
  shift
  python3 - "$file" "$@" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
series = []
for line in text.splitlines():
    m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? ', line)
    if m:
        labels = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        series.append((m.group(1), labels))
missing = []
for want in sys.argv[2:]:
    name, _, rest = want.partition("{")
    need = dict(re.findall(r'(\w+)="([^"]*)"', rest))
    if not any(n == name and all(l.get(k) == v for k, v in need.items()) for n, l in series):
        missing.append(want)
if missing:
    sys.exit("missing metrics: " + ", ".join(missing))
PY
}

# Operator commands run the binary inside a running container (there is no shell).
podman exec "${project}_serve_1" /usr/local/bin/hookline stats >"$work/stats.txt" ||
  fail "hookline stats failed in serve"
grep -q 'hookline:events:{0}' "$work/stats.txt" || fail "hookline stats shows no partition 0"
podman exec "${project}_serve_1" /usr/local/bin/hookline job compact >/dev/null ||
  fail "hookline job compact failed in serve"
# The file:// archive volume of schedule starts with the image's /var/lib/hookline (65532).
archive_dir=$(podman volume inspect --format '{{.Mountpoint}}' "${project}_archive")
[ "$(stat -c %u "$archive_dir")" = 65532 ] || fail "the archive volume is not owned by 65532"
echo "hookline stats and job compact run in the serve container; archive volume owned by 65532"
phase "compose: operator commands"

check_metrics "$serve_ops_port" 'hookline_ingest_requests_total{source="github",status="202"}' \
  hookline_ingest_duration_seconds_bucket hookline_redis_up ||
  fail "serve /metrics (saved in metrics-$serve_ops_port.txt)"
check_metrics "$consume_port" 'hookline_consumer_processed_total{group="app",outcome="delivered"}' \
  'hookline_consumer_duration_seconds_bucket{group="app"}' \
  'hookline_consumer_lag{group="app",partition="0"}' hookline_redis_up ||
  fail "consume /metrics"
echo "serve and consume export the metrics the alerts use"
check_metrics "$schedule_port" 'hookline_job_interval_seconds{job="compact"}' \
  'hookline_job_interval_seconds{job="archive"}' 'hookline_job_interval_seconds{job="summarize"}' \
  'hookline_job_interval_seconds{job="rotate-bloom"}' hookline_redis_up ||
  fail "schedule /metrics"
echo "schedule exports hookline_job_interval_seconds for every job"
phase "compose: metrics"

stop_cleanly consume "${project}_consume_1" 45
stop_cleanly schedule "${project}_schedule_1" 45
phase "compose: consume/schedule stop"

compose_down
compose=()
phase "compose: down"

echo "== timings"
printf '   %s\n' "${timings[@]}"
printf '   %-34s %6.1fs\n' total "$(echo "$(date +%s.%N) - $started" | bc)"
echo "PASS"
