#!/usr/bin/env bash
# What a user pays to build: the same small Axum service (two routes, a TCP dependency check,
# /health and /metrics, graceful shutdown on SIGTERM) built in release from a clean target —
# on tower-vitals with its default features, on tower-vitals with the `axum` feature alone, and
# on axum-prometheus with a hand-written /health — with the versions of this repository's
# Cargo.lock. Prints, for each, the crates compiled, the CPU time (user + system of cargo and
# everything it ran) and wall time of the build, and the size of the stripped binary, then the
# ratios. Not part of CI (three clean
# release builds take minutes); results in benches/README.md.
#
#   bash benches/weight.sh            # each app built twice, interleaved; the lower CPU time kept
#   bash benches/weight.sh --rounds 1
set -euo pipefail
rounds=2
if [ "${1:-}" = "--rounds" ]; then rounds=${2:?a number of rounds}; fi
cd "$(dirname "$0")/.."
root=$PWD
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

command -v strip >/dev/null || { echo "strip (binutils) is needed" >&2; exit 1; }

app() { # NAME DEPENDENCIES MAIN
  mkdir -p "$work/$1/src"
  cat >"$work/$1/Cargo.toml" <<EOF
[package]
name = "$1"
version = "0.1.0"
edition = "2024"
publish = false

[dependencies]
axum = "0.8"
tokio = { version = "1", features = ["rt-multi-thread", "macros", "net", "signal"] }
$2

[workspace]
EOF
  printf '%s\n' "$3" >"$work/$1/src/main.rs"
  # The same versions as this repository resolves, where the two share them.
  cp "$root/Cargo.lock" "$work/$1/Cargo.lock"
}

vitals_main='
use axum::{Router, extract::Path, routing::get};
use tower_vitals::{Check, Setup};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let vitals = Setup::from_env()?
        .register(Check::new("database", || async {
            tokio::net::TcpStream::connect("127.0.0.1:5432").await.map(drop)
        }))
        .build()?;
    let app = Router::new()
        .route("/", get(|| async { "hello" }))
        .route("/users/{id}", get(|Path(id): Path<u32>| async move { format!("user {id}") }));
    let app = vitals.around(app);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    let server = axum::serve(listener, app.into_make_service())
        .with_graceful_shutdown(vitals.shutdown_signal());
    vitals.run(server.into_future()).await??;
    Ok(())
}'
app with-tower-vitals "tower-vitals = { path = \"$root\" }" "$vitals_main"
# The same app with only the `axum` feature: what `process` (/proc figures, ProcessCheck,
# DiskSpaceCheck) adds to the defaults.
app with-tower-vitals-axum-only "tower-vitals = { path = \"$root\", default-features = false, features = [\"axum\"] }" "$vitals_main"

app with-axum-prometheus 'axum-prometheus = "0.10"
serde_json = "1"' '
use axum::http::StatusCode;
use axum::{Json, Router, extract::Path, routing::get};
use axum_prometheus::PrometheusMetricLayer;
use serde_json::{Value, json};

/// The hand-written /health: a TCP connect to the database, 503 with the error when it fails.
async fn health() -> (StatusCode, Json<Value>) {
    match tokio::net::TcpStream::connect("127.0.0.1:5432").await {
        Ok(_) => (StatusCode::OK, Json(json!({ "status": "healthy" }))),
        Err(error) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unhealthy", "database": error.to_string() })),
        ),
    }
}

async fn shutdown() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("a SIGTERM handler");
    tokio::select! { _ = term.recv() => {}, _ = tokio::signal::ctrl_c() => {} }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (layer, handle) = PrometheusMetricLayer::pair();
    let app = Router::new()
        .route("/", get(|| async { "hello" }))
        .route("/users/{id}", get(|Path(id): Path<u32>| async move { format!("user {id}") }))
        .route("/health", get(health))
        .route("/metrics", get(move || std::future::ready(handle.render())))
        .layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    axum::serve(listener, app).with_graceful_shutdown(shutdown()).await?;
    Ok(())
}'

# Builds NAME in release from a clean target: "crates cpu_seconds wall_seconds stripped_bytes".
measure() {
  python3 - "$work/$1" <<'EOF'
import os, resource, subprocess, sys, time
app = sys.argv[1]
import shutil
shutil.rmtree(os.path.join(app, "target"), ignore_errors=True)  # a clean target every round
env = dict(os.environ, CARGO_TARGET_DIR=os.path.join(app, "target"), CARGO_TERM_COLOR="never")
before = resource.getrusage(resource.RUSAGE_CHILDREN)
started = time.monotonic()
run = subprocess.run(["cargo", "build", "--release"], cwd=app, env=env,
                     stderr=subprocess.PIPE, text=True)
wall = time.monotonic() - started
after = resource.getrusage(resource.RUSAGE_CHILDREN)
if run.returncode != 0:
    sys.stderr.write(run.stderr)
    sys.exit(run.returncode)
crates = sum(1 for line in run.stderr.splitlines() if line.strip().startswith("Compiling "))
cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
binary = os.path.join(app, "target", "release", os.path.basename(app))
stripped = binary + ".stripped"
subprocess.run(["strip", "-o", stripped, binary], check=True)
print(crates, f"{cpu:.1f}", f"{wall:.1f}", os.path.getsize(stripped))
EOF
}

echo "building the three apps in release from a clean target, $rounds rounds (nproc=$(nproc))…" >&2
# Rounds interleave the apps, so a slow spell of a shared machine weighs on all of them; each
# app's lowest CPU and wall time over the rounds are kept (crates and size do not vary).
declare -A results
for round in $(seq "$rounds"); do
  echo "round $round of $rounds…" >&2
  for name in with-tower-vitals with-tower-vitals-axum-only with-axum-prometheus; do
    now=$(measure "$name")
    results[$name]=$(python3 -c '
import sys
old, new = sys.argv[1].split(), sys.argv[2].split()
print(*(new if not old else [new[0], min(float(old[1]), float(new[1])), min(float(old[2]), float(new[2])), new[3]]))
' "${results[$name]:-}" "$now")
  done
done
read -r vc vcpu vwall vsize <<<"${results[with-tower-vitals]}"
read -r lc lcpu lwall lsize <<<"${results[with-tower-vitals-axum-only]}"
read -r pc pcpu pwall psize <<<"${results[with-axum-prometheus]}"

printf '%-42s %7s %9s %9s %14s\n' "app" "crates" "CPU s" "wall s" "stripped bytes"
printf '%-42s %7s %9s %9s %14s\n' "tower-vitals (default features, Setup)" "$vc" "$vcpu" "$vwall" "$vsize"
printf '%-42s %7s %9s %9s %14s\n' "tower-vitals (feature axum only)" "$lc" "$lcpu" "$lwall" "$lsize"
printf '%-42s %7s %9s %9s %14s\n' "axum-prometheus + hand-written /health" "$pc" "$pcpu" "$pwall" "$psize"
python3 - "$vc" "$vcpu" "$vsize" "$lc" "$lcpu" "$lsize" "$pc" "$pcpu" "$psize" <<'EOF'
import sys
vc, vcpu, vsize, lc, lcpu, lsize, pc, pcpu, psize = map(float, sys.argv[1:])
for name, c, cpu, size in (("defaults", vc, vcpu, vsize), ("axum only", lc, lcpu, lsize)):
    print(f"tower-vitals ({name}) / axum-prometheus: crates {c / pc:.2f}x, CPU time {cpu / pcpu:.2f}x, "
          f"stripped size {size / psize:.2f}x ({size / 1e6:.2f} MB against {psize / 1e6:.2f} MB)")
EOF
