#!/usr/bin/env bash
# Fuzzes request routing and the renderers for a fixed short time (cargo-fuzz, libFuzzer, nightly).
#   bash .ci/fuzz.sh [seconds per target, default 15]
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${1:-15}
if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "skipped: no nightly toolchain here (cargo-fuzz needs it); run: bash .ci/fuzz.sh"
  exit 0
fi
command -v cargo-fuzz >/dev/null 2>&1 || cargo install --quiet --locked cargo-fuzz
for target in route render; do
  echo "fuzzing $target for ${seconds} s"
  cargo +nightly fuzz run "$target" -- -max_total_time="$seconds" 2>&1 | tail -1
done
