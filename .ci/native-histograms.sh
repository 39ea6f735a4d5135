#!/usr/bin/env bash
# Quantiles across replicas: three instances of examples/native_histograms.rs, each serving a
# different latency mix, scraped by two real Prometheus servers on loopback — one with
# `--enable-feature=native-histograms` (the protobuf exposition), one without (the classic
# buckets). The p95 of all requests from `histogram_quantile(0.95, sum(rate(…[1m])))` is
# compared with the p95 measured client-side: native within 5 %, the classic answer's error
# printed beside it. Bounded: about 30 s. Stops every process it started, by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet --all-features --example native_histograms
# At most 5 minutes whatever happens (it takes about 30 s).
exec timeout 300 python3 .ci/native_histograms.py target/debug/examples/native_histograms
