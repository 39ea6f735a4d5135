#!/usr/bin/env bash
# Real Prometheus tooling against the real example: promtool lints what /metrics serves, and a
# Prometheus server on loopback scrapes it. Stops every process it started.
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

app=127.0.0.1:3917
prom=127.0.0.1:9917

# The fleet's rules: valid, and every alert fires when it should and only then.
echo "promtool on deploy/prometheus/rules.yml:"
promtool check rules deploy/prometheus/rules.yml
(cd deploy/prometheus && promtool test rules rules.test.yml)

# /metrics behind a bearer token, as it would be where the port is reachable from outside.
token="scrape-$RANDOM-$RANDOM"
printf '%s' "$token" >"$work/token"
cargo build --quiet --example axum
METRICS_TOKEN_FILE="$work/token" ADDR=$app RUST_LOG=warn target/debug/examples/axum >"$work/example.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  curl -fsS "http://$app/health/live" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "http://$app/health/live" >/dev/null || { cat "$work/example.log"; echo "the example did not start"; exit 1; }

# Some traffic, so the request families have series.
for _ in $(seq 20); do curl -fsS "http://$app/" >/dev/null; done
curl -fsS -X POST "http://$app/jobs" >/dev/null
curl -fsS "http://$app/health/ready" >/dev/null

refused=$(curl -s -o /dev/null -w '%{http_code}' "http://$app/metrics")
[ "$refused" = "401" ] || { echo "/metrics without the token answered $refused, not 401"; exit 1; }
echo "/metrics without the token: 401"
curl -fsS -H "Authorization: Bearer $token" "http://$app/metrics" >"$work/metrics.txt"
echo "promtool check metrics on $(wc -l <"$work/metrics.txt") lines of /metrics:"
if ! promtool check metrics <"$work/metrics.txt" >"$work/promtool.txt" 2>&1; then
  cat "$work/promtool.txt"; echo "promtool rejected the exposition"; exit 1
fi
if [ -s "$work/promtool.txt" ]; then
  cat "$work/promtool.txt"; echo "promtool has lint remarks"; exit 1
fi
echo "  no errors, no lint remarks"

# Prometheus asks for OpenMetrics first: the scrape below reads that format.
accept='application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1'
negotiated=$(curl -fsS -o /dev/null -w '%{content_type}' -H "Accept: $accept" -H "Authorization: Bearer $token" "http://$app/metrics")
echo "/metrics as Prometheus asks for it: $negotiated"
case "$negotiated" in application/openmetrics-text*) ;; *) echo "expected OpenMetrics"; exit 1 ;; esac

cat >"$work/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $PWD/deploy/prometheus/rules.yml
scrape_configs:
  - job_name: tower-vitals-example
    authorization:
      type: Bearer
      credentials_file: $work/token
    static_configs:
      - targets: ["$app"]
YAML
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/data" \
  --enable-feature=exemplar-storage \
  --web.listen-address="$prom" >"$work/prometheus.log" 2>&1 &
pids+=($!)

query() {
  curl -fsS --get "http://$prom/api/v1/query" --data-urlencode "query=$1" 2>/dev/null \
    | python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "")' 2>/dev/null \
    || true
}

up="" health="" requests=""
for _ in $(seq 40); do
  up=$(query 'up{job="tower-vitals-example"}')
  health=$(query 'vitals_health_component_status{component="database",state="healthy"}')
  # An OpenMetrics counter (family `x`, samples `x_total`) read under its sample name.
  requests=$(query 'sum(vitals_http_server_requests_total)')
  [ "$up" = "1" ] && [ "$health" = "1" ] && [ -n "$requests" ] && break
  sleep 0.5
done
echo "Prometheus (scraping with the token): up=$up, vitals_health_component_status{component=\"database\",state=\"healthy\"}=$health, sum(vitals_http_server_requests_total)=$requests"
if [ "$up" != "1" ] || [ "$health" != "1" ] || [ -z "$requests" ]; then
  tail -20 "$work/prometheus.log"; echo "Prometheus did not scrape the example"; exit 1
fi

# The rules evaluate on the example's real series: a recording rule has a value, and no rule
# reports an error.
rate="" rules=""
for _ in $(seq 40); do
  rate=$(query 'job:vitals_http_server_requests:rate5m{job="tower-vitals-example"}')
  rules=$(curl -fsS "http://$prom/api/v1/rules" 2>/dev/null | python3 -c '
import json, sys
rules = [r for g in json.load(sys.stdin)["data"]["groups"] for r in g["rules"]]
bad = [r["name"] for r in rules if r.get("health") != "ok"]
print(len(rules) if rules and not bad else "")' 2>/dev/null || true)
  [ -n "$rate" ] && [ -n "$rules" ] && break
  sleep 0.5
done
echo "Prometheus rules: $rules evaluated without error; job:vitals_http_server_requests:rate5m=$rate"
if [ -z "$rate" ] || [ -z "$rules" ]; then
  curl -fsS "http://$prom/api/v1/rules" | head -c 2000; echo; echo "the rules did not evaluate on the example's series"; exit 1
fi

# Exemplars: requests carrying a sampled W3C traceparent leave their trace ids beside the
# histogram buckets; Prometheus (exemplar storage on) scrapes them and finds them by trace id.
trace_id=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
for _ in $(seq 5); do
  curl -fsS -H "traceparent: 00-$trace_id-$(python3 -c 'import secrets; print(secrets.token_hex(8))')-01" "http://$app/" >/dev/null
done
found=""
for _ in $(seq 40); do
  found=$(curl -fsS --get "http://$prom/api/v1/query_exemplars" \
      --data-urlencode 'query=vitals_http_server_request_duration_seconds_bucket' \
      --data-urlencode "start=$(( $(date +%s) - 600 ))" --data-urlencode "end=$(( $(date +%s) + 60 ))" 2>/dev/null \
    | python3 -c "import json,sys; d=json.load(sys.stdin)['data']; print(sum(1 for s in d for e in s['exemplars'] if e['labels'].get('trace_id') == '$trace_id'))" 2>/dev/null || true)
  [ -n "$found" ] && [ "$found" != "0" ] && break
  sleep 0.5
done
echo "Prometheus exemplars with trace_id $trace_id: ${found:-0}"
if [ -z "$found" ] || [ "$found" = "0" ]; then
  tail -20 "$work/prometheus.log"; echo "the exemplar did not reach Prometheus"; exit 1
fi
