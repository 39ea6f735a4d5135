#!/usr/bin/env bash
# Fuzzes request routing, the time endpoints' queries, the renderers, redaction and peers' fleet records for a fixed short time (cargo-fuzz, libFuzzer, nightly).
#   bash .ci/fuzz.sh [seconds per target, default 15]
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${1:-15}
if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "skipped: no nightly toolchain here (cargo-fuzz needs it); run: bash .ci/fuzz.sh"
  exit 0
fi
command -v cargo-fuzz >/dev/null 2>&1 || cargo install --quiet --locked cargo-fuzz
for target in route render redact protobuf query fleet settings; do
  echo "fuzzing $target for ${seconds} s"
  # Inputs up to 8 KiB, each within 2 s: a redaction that is not linear in time fails here.
  log=$(mktemp)
  if ! cargo +nightly fuzz run "$target" -- -max_total_time="$seconds" -max_len=8192 -timeout=2 >"$log" 2>&1; then
    grep -E "panicked|assert|ERROR|SUMMARY|Test unit" "$log" | head -20
    tail -5 "$log"
    echo "fuzz target $target failed (the input is under fuzz/artifacts/$target)"
    exit 1
  fi
  tail -1 "$log"
  rm -f "$log"
done
