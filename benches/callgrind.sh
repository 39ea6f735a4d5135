#!/usr/bin/env bash
# Instructions per request for MetricsLayer, HealthLayer, the floor and the peers, counted by
# callgrind (deterministic: the same binary and inputs give the same counts), all in one run.
#
# Each variant runs twice under callgrind, counting only inside the request loop, with SHORT and
# LONG requests after the same warm-up; (LONG run - SHORT run) / (LONG - SHORT) is what one request costs. "added" is
# that minus the bare router's. Usage: bash benches/callgrind.sh [--quick]
set -euo pipefail
cd "$(dirname "$0")/.."

short=2000 long=12000 served=10000
otel=
for arg in "$@"; do
  case "$arg" in
    --quick) short=500 long=3000 served=2000 ;;
    --otel) otel=1 ;; # with the opentelemetry feature: MetricsLayer with and without a span, and bridged to a Meter
    *) echo "usage: bash benches/callgrind.sh [--quick] [--otel]" >&2; exit 2 ;;
  esac
done
features=()
[ -n "$otel" ] && features=(--features opentelemetry)

command -v valgrind >/dev/null || { echo "valgrind is needed (Debian: apt-get install valgrind)" >&2; exit 1; }

bin=$(cargo bench --bench peers "${features[@]}" --no-run --message-format=json 2>/dev/null | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "peers" and m.get("executable"):
        print(m["executable"])')

instructions() { # variant requests -> total instructions of the run
  valgrind --tool=callgrind --callgrind-out-file=/dev/null --toggle-collect='peers::measured*' \
    "$bin" "$1" "$2" 2>&1 \
    | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}

variants=(bare floor tower-vitals tower-vitals-any tower-vitals-lean tower-vitals-native health health-around tikv prometheus-client axum-prometheus bare-traced tower-vitals-traced bare-label tower-vitals-label)
[ -n "$otel" ] && variants=(bare tower-vitals tower-vitals-traced bare-traced tower-vitals-otel tower-vitals-meter)
declare -A per
for v in "${variants[@]}"; do
  a=$(instructions "$v" "$short")
  b=$(instructions "$v" "$long")
  per[$v]=$(( (b - a) / (long - short) ))
done

bare=${per[bare]}
added() { echo $(( per[$1] - bare )); }
ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }

echo "callgrind, instructions per request ($((long - short)) requests: a $long-request run minus a $short-request run)"
echo "Axum router, 20 /api/rN/users/{id} routes with state, round-robin, body read to the end"
echo
printf '%-20s %12s %10s\n' variant "per request" added
for v in "${variants[@]}"; do
  printf '%-20s %12d %10s\n' "$v" "${per[$v]}" "$([ "$v" = bare ] && echo - || added "$v")"
done
ours=$(added tower-vitals)
traced=$(( per[tower-vitals-traced] - per[bare-traced] ))
echo
if [ -n "$otel" ]; then
  echo "with the opentelemetry feature (no span current unless said):"
  echo "MetricsLayer added, no trace:                         $ours"
  echo "MetricsLayer added, a sampled traceparent header:     $traced, $(ratio "$traced" "$ours")x without"
  spanned=$(added tower-vitals-otel)
  echo "MetricsLayer added, a sampled OpenTelemetry span:     $spanned, $(ratio "$spanned" "$ours")x without"
  metered=$(added tower-vitals-meter)
  echo "MetricsLayer added, recording into an SDK Meter too:   $metered, $(ratio "$metered" "$ours")x without"
  exit 0
fi
echo "MetricsLayer added ÷ floor added:              $(ratio "$ours" "$(added floor)")"
echo "MetricsLayer added ÷ tikv prometheus added:    $(ratio "$ours" "$(added tikv)")"
echo "MetricsLayer added ÷ prometheus-client added:  $(ratio "$ours" "$(added prometheus-client)")"
echo "MetricsLayer added ÷ axum-prometheus added:    $(ratio "$ours" "$(added axum-prometheus)")"
lean=$(added tower-vitals-lean)
echo "lean MetricsLayer added ÷ floor / tikv / prometheus-client added: $(ratio "$lean" "$(added floor)") / $(ratio "$lean" "$(added tikv)") / $(ratio "$lean" "$(added prometheus-client)")"
any=$(added tower-vitals-any)
echo "MetricsLayer for any body (no for_axum) added ÷ floor / tikv: $(ratio "$any" "$(added floor)") / $(ratio "$any" "$(added tikv)")"
echo "HealthLayer (Router::layer) added, ordinary request: $(added health)"
echo "HealthLayer::around(router) added, ordinary request: $(added health-around)"
echo "MetricsLayer added with a sampled traceparent (exemplar kept): $traced, $(ratio "$traced" "$ours")x without"
native=$(added tower-vitals-native)
echo "MetricsLayer added with native histograms (exponential buckets too): $native, $(ratio "$native" "$ours")x fixed buckets only"
labelled=$(( per[tower-vitals-label] - per[bare-label] ))
echo "MetricsLayer added with a request label (x-tenant, 24 tenants, 16 values): $labelled, one label costs $(( labelled - ours ))"

# The whole server: examples/load_target.rs (`--only NAME`) under callgrind, answering real
# HTTP/1.1 requests over loopback from curl on one kept-alive connection (Host, User-Agent and
# Accept headers), 50 routes in turn. Counted from a zeroed counter after a warm-up to the dump
# after $served requests: hyper, Tokio, Axum and the layer — user space only; the kernel's share
# of each request (loopback sockets, epoll) is not counted.
cargo build --quiet --release --example load_target
work=$(mktemp -d)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
requests() { # address count -> how many answered 200
  curl -s "http://$1/r[0-49]/users/[1-$(( $2 / 50 ))]" -w '%{http_code}\n' | grep -c '200$' || true
}
whole_server() { # app -> instructions per request
  valgrind --tool=callgrind --callgrind-out-file="$work/$1.%p" \
    target/release/examples/load_target --only "$1" >"$work/$1.address" 2>"$work/$1.log" &
  server_pid=$!
  for _ in $(seq 300); do grep -q '^ready' "$work/$1.address" 2>/dev/null && break; sleep 0.1; done
  grep -q '^ready' "$work/$1.address" || { cat "$work/$1.log" >&2; echo "load_target --only $1 did not start" >&2; exit 1; }
  local address answered
  address=$(sed -n "s/^$1=//p" "$work/$1.address")
  requests "$address" 1000 >/dev/null
  callgrind_control -z "$server_pid" >/dev/null 2>&1
  answered=$(requests "$address" "$served")
  callgrind_control -d "$server_pid" >/dev/null 2>&1
  kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""
  [ "$answered" -eq "$served" ] || { echo "$1: $answered of $served requests answered" >&2; exit 1; }
  local total
  total=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$work/$1".*.1)
  echo $(( total / served ))
}
echo
echo "the whole server (load_target --only NAME under callgrind, $served HTTP/1.1 requests over loopback, user space):"
declare -A whole
for app in bare identity metrics lean; do
  whole[$app]=$(whole_server "$app")
done
printf '%-20s %12s %10s %12s\n' app "per request" added "bare ÷ this"
for app in bare identity metrics lean; do
  printf '%-20s %12d %10s %12s\n' "$app" "${whole[$app]}" \
    "$([ "$app" = bare ] && echo - || echo $(( whole[$app] - whole[bare] )))" "$(python3 -c "print(f'{${whole[bare]} / ${whole[$app]}:.3f}')")"
done
