#!/usr/bin/env bash
# Load and soak over loopback with wrk against examples/load_target.rs (release build).
# Prints ratios measured in this run and fails on request errors, never on speed.
#
#   bash benches/load.sh           # full: 10 s per throughput run, 60 s soak
#   bash benches/load.sh --quick   # CI: under 20 s of load in all
set -euo pipefail
cd "$(dirname "$0")/.."

run_s=10 ready_s=10 soak_s=60 warm_s=5 round_s=5 pair_runs=9
if [ "${1:-}" = "--quick" ]; then run_s=2 ready_s=3 soak_s=6 warm_s=1 round_s=1 pair_runs=3; fi

work=$(mktemp -d)
server_pid="" pair_pids=()
cleanup() {
  for pid in $server_pid "${pair_pids[@]}"; do
    kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

cargo build --quiet --release --example load_target
target/release/examples/load_target >"$work/addresses" 2>"$work/server.log" &
server_pid=$!
for _ in $(seq 100); do grep -q '^ready' "$work/addresses" 2>/dev/null && break; sleep 0.05; done
grep -q '^ready' "$work/addresses" || { cat "$work/server.log"; echo "load_target did not start"; exit 1; }
addr() { sed -n "s/^$1=//p" "$work/addresses"; }
bare=$(addr bare) metrics=$(addr metrics) health=$(addr health) slow=$(addr slow)

errors=0
# wrk SECONDS CONNECTIONS URL [lua script [THREADS]] -> prints requests/s; failures are added to
# $work/errors (it runs in a subshell: a variable would not carry them back).
wrk_rate() {
  local seconds=$1 connections=$2 url=$3 script=${4:-} threads=${5:-2}
  local out
  out=$(wrk -t"$threads" -c"$connections" -d"${seconds}s" ${script:+-s "$script"} "$url")
  local non2xx socket
  non2xx=$(sed -n 's/.*Non-2xx or 3xx responses: \([0-9]*\).*/\1/p' <<<"$out")
  socket=$(sed -n 's/.*Socket errors: connect \([0-9]*\), read \([0-9]*\), write \([0-9]*\), timeout \([0-9]*\).*/\1 \2 \3 \4/p' <<<"$out" | awk '{print $1+$2+$3+$4}')
  echo $((${non2xx:-0} + ${socket:-0})) >>"$work/errors"
  if [ -n "${non2xx}${socket}" ]; then echo "  $url: non-2xx ${non2xx:-0}, socket errors ${socket:-0}" >&2; fi
  sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' <<<"$out"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
rss_kib() { awk '/^VmRSS/ { print $2 }' "/proc/$server_pid/status"; }
check_runs() {
  curl -fsS "http://$health/metrics" | awk '/^vitals_health_check_runs_total\{component="db"\}/ { print $2 }'
}

echo "warm-up ${warm_s} s"
wrk_rate "$warm_s" 32 "http://$bare/plain" >/dev/null
wrk_rate "$warm_s" 32 "http://$health/health/live" >/dev/null

echo "throughput, ${run_s} s each, 2 threads, 64 connections (requests/s):"
bare_rate=$(wrk_rate "$run_s" 64 "http://$bare/plain")
live_rate=$(wrk_rate "$run_s" 64 "http://$health/health/live")
metrics_rate=$(wrk_rate "$run_s" 64 "http://$metrics/plain")
bare_again=$(wrk_rate "$run_s" 64 "http://$bare/plain")
baseline=$(awk -v a="$bare_rate" -v b="$bare_again" 'BEGIN { printf "%.1f", (a + b) / 2 }')
printf '  bare /plain (no layers)          %10s  (runs: %s, %s)\n' "$baseline" "$bare_rate" "$bare_again"
printf '  /health/live (HealthLayer)       %10s  ratio %s (target >= 0.9)\n' "$live_rate" "$(ratio "$live_rate" "$baseline")"
printf '  /plain behind MetricsLayer       %10s  ratio %s (target >= 0.95)\n' "$metrics_rate" "$(ratio "$metrics_rate" "$baseline")"

# Traffic spread over 50 routes (each request a different route, round-robin): the layer's
# per-route data is touched across many cache lines. Bare and MetricsLayer alternate over five
# rounds, which of the two goes first alternating too (a machine whose speed drifts during the
# run favours neither); the median of the five ratios is printed.
cat >"$work/routes.lua" <<'LUA'
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", "/r" .. (n % 50) .. "/users/" .. n)
end
LUA
echo "50 routes round-robin, 5 interleaved rounds of ${round_s} s, 64 connections (requests/s):"
route_ratios=()
for round in 1 2 3 4 5; do
  if [ $((round % 2)) -eq 1 ]; then
    b=$(wrk_rate "$round_s" 64 "http://$bare/" "$work/routes.lua")
    m=$(wrk_rate "$round_s" 64 "http://$metrics/" "$work/routes.lua")
  else
    m=$(wrk_rate "$round_s" 64 "http://$metrics/" "$work/routes.lua")
    b=$(wrk_rate "$round_s" 64 "http://$bare/" "$work/routes.lua")
  fi
  route_ratios+=("$(ratio "$m" "$b")")
  printf '  round %s: bare %10s, MetricsLayer %10s, ratio %s\n' "$round" "$b" "$m" "${route_ratios[-1]}"
done
median=$(printf '%s\n' "${route_ratios[@]}" | sort -n | sed -n 3p)
printf '  median ratio MetricsLayer / bare: %s (target >= 0.95)\n' "$median"

# The same two apps side by side: each in a process of its own, both loaded at the same time
# by a wrk of their own on the same cores, so a machine whose speed drifts slows both alike and
# the scheduler shares the cores between them. A control pair runs the same way in between:
# two processes of the bare app, whose ratio would be 1 on a quiet machine — its spread is the
# smallest difference this machine can show. Which wrk starts first alternates.
for name in bare metrics bare; do
  target/release/examples/load_target --only "$name" >"$work/$name.${#pair_pids[@]}.address" 2>>"$work/server.log" &
  pair_pids+=($!)
done
for file in "$work"/*.address; do
  for _ in $(seq 100); do grep -q '^ready' "$file" 2>/dev/null && break; sleep 0.05; done
done
pair_bare=$(sed -n 's/^bare=//p' "$work/bare.0.address")
pair_metrics=$(sed -n 's/^metrics=//p' "$work/metrics.1.address")
pair_control=$(sed -n 's/^bare=//p' "$work/bare.2.address")
# side_by_side RUN URL_A URL_B -> "rate_a rate_b", both loaded for $round_s s at once
side_by_side() {
  local first=$2 second=$3
  if [ $(($1 % 2)) -eq 0 ]; then first=$3 second=$2; fi
  wrk_rate "$round_s" 32 "http://$first/" "$work/routes.lua" 1 >"$work/pair.first" &
  local waiting=$!
  wrk_rate "$round_s" 32 "http://$second/" "$work/routes.lua" 1 >"$work/pair.second"
  wait "$waiting"
  if [ $(($1 % 2)) -eq 0 ]; then
    echo "$(cat "$work/pair.second") $(cat "$work/pair.first")"
  else
    echo "$(cat "$work/pair.first") $(cat "$work/pair.second")"
  fi
}
median_of() { sort -n | awk '{ v[NR] = $1 } END { printf "%.3f", (v[int((NR + 1) / 2)] + v[int(NR / 2) + 1]) / 2 }'; }
range_of() { sort -n | awk '{ v[NR] = $1 } END { printf "%.3f to %.3f", v[1], v[NR] }'; }
echo "50 routes, two apps side by side (a process and a wrk of 32 connections each), ${pair_runs} runs of ${round_s} s per pair:"
pair_ratios=() control_ratios=()
cpu_ticks() { awk '{ print $14, $15 }' "/proc/$1/stat"; } # user and system time of a process
read -r user_before system_before <<<"$(cpu_ticks "${pair_pids[0]}")"
for run in $(seq "$pair_runs"); do
  read -r b m <<<"$(side_by_side "$run" "$pair_bare" "$pair_metrics")"
  pair_ratios+=("$(ratio "$m" "$b")")
  read -r b2 c <<<"$(side_by_side "$run" "$pair_bare" "$pair_control")"
  control_ratios+=("$(ratio "$c" "$b2")")
  printf '  run %s: bare %8s, MetricsLayer %8s, ratio %s | bare %8s, bare again %8s, ratio %s\n' \
    "$run" "$b" "$m" "${pair_ratios[-1]}" "$b2" "$c" "${control_ratios[-1]}"
done
printf '  median ratio MetricsLayer / bare: %s (runs %s; target >= 0.95)\n' \
  "$(printf '%s\n' "${pair_ratios[@]}" | median_of)" "$(printf '%s\n' "${pair_ratios[@]}" | range_of)"
printf '  control, bare / bare:             %s (runs %s; 1 on a quiet machine)\n' \
  "$(printf '%s\n' "${control_ratios[@]}" | median_of)" "$(printf '%s\n' "${control_ratios[@]}" | range_of)"
# What callgrind counts of a whole server (benches/callgrind.sh) is its user space: this says
# how much of the bare server's time that is, the rest being the kernel's loopback I/O.
read -r user_after system_after <<<"$(cpu_ticks "${pair_pids[0]}")"
awk -v u=$((user_after - user_before)) -v s=$((system_after - system_before)) \
  'BEGIN { printf "  the bare server'"'"'s CPU time: user space %.0f%%, kernel %.0f%%\n", 100 * u / (u + s), 100 * s / (u + s) }'

echo "readiness under a 100 ms check, cache TTL 1 s, 256 connections, ${ready_s} s:"
runs_before=$(check_runs)
ready_rate=$(wrk_rate "$ready_s" 256 "http://$health/health/ready")
runs_after=$(check_runs)
runs=$(awk -v a="$runs_after" -v b="$runs_before" 'BEGIN { print a - b }')
per_second=$(awk -v r="$runs" -v s="$ready_s" 'BEGIN { printf "%.2f", r / s }')
printf '  %s requests/s answered; the check ran %s times: %s runs/s (at most 1/TTL = 1)\n' "$ready_rate" "$runs" "$per_second"
if [ "$runs" -gt $((ready_s + 1)) ]; then echo "the check ran more often than once per TTL"; errors=$((errors + 1)); fi

# Readiness while a 3 s check's results expire every second: probes answer from the last result
# (stale-while-revalidate), never waiting for the run. The baseline, measured in the same run,
# waits for it (maximum staleness = TTL), as every probe did before; its 503s are expected.
# wrk URL -> "rate p50 p99 max non2xx socket"
latency() {
  local out
  out=$(wrk -t2 -c256 -d"${ready_s}s" --latency "$1")
  local non2xx socket
  non2xx=$(sed -n 's/.*Non-2xx or 3xx responses: \([0-9]*\).*/\1/p' <<<"$out")
  socket=$(sed -n 's/.*Socket errors: connect \([0-9]*\), read \([0-9]*\), write \([0-9]*\), timeout \([0-9]*\).*/\1 \2 \3 \4/p' <<<"$out" | awk '{print $1+$2+$3+$4}')
  printf '%s %s %s %s %s %s\n' \
    "$(sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' <<<"$out")" \
    "$(awk '$1 == "50%" { print $2 }' <<<"$out")" "$(awk '$1 == "99%" { print $2 }' <<<"$out")" \
    "$(awk '$1 == "Latency" { print $4 }' <<<"$out")" "${non2xx:-0}" "${socket:-0}"
}
echo "readiness latency under a 3 s check, cache TTL 1 s, 256 connections, ${ready_s} s each:"
for url in "http://$slow/health/ready" "http://$(addr slow_waiting)/health/ready"; do
  curl -s -o /dev/null "$url" || true  # the first run starts
done
sleep 3.2
read -r rate p50 p99 max non2xx socket <<<"$(latency "http://$slow/health/ready")"
errors=$((errors + non2xx + socket))
printf '  served stale while refreshing: %s requests/s; p50 %s, p99 %s, max %s (goal: p99 under 10 ms)\n' \
  "$rate" "$p50" "$p99" "$max"
read -r rate p50 p99 max non2xx socket <<<"$(latency "http://$(addr slow_waiting)/health/ready")"
errors=$((errors + socket))
printf '  baseline, waiting for the run: %s requests/s; p50 %s, p99 %s, max %s (%s answers 503)\n' \
  "$rate" "$p50" "$p99" "$max" "$non2xx"

cat >"$work/mixed.lua" <<'LUA'
local paths = {"/plain", "/health/ready", "/health/live", "/plain"}
local i = 0
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
LUA
echo "soak ${soak_s} s, mixed /plain and health paths, 64 connections:"
rss_start=$(rss_kib)
soak_rate=$(wrk_rate "$soak_s" 64 "http://$health" "$work/mixed.lua")
rss_end=$(rss_kib)
growth=$(awk -v a="$rss_end" -v b="$rss_start" 'BEGIN { printf "%.1f", (a - b) * 100 / b }')
printf '  %s requests/s; RSS %s KiB -> %s KiB (%s%%, target <= 5%%)\n' "$soak_rate" "$rss_start" "$rss_end" "$growth"

errors=$((errors + $(awk '{ n += $1 } END { print n + 0 }' "$work/errors" 2>/dev/null || echo 0)))
echo "request errors: $errors"
[ "$errors" -eq 0 ]
