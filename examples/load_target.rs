//! The servers `benches/load.sh` drives with wrk: `cargo run --release --example load_target`.
//!
//! Three Axum apps on loopback, printed as `name=address` lines:
//! - `bare`: `GET /plain` with no layers — the baseline;
//! - `metrics`: the same route behind `MetricsLayer`;
//! - `health`: `GET /plain` behind `MetricsLayer` and `HealthLayer`, with a check that takes
//!   100 ms (cache TTL 1 s), so `/health/ready` under load shows the coalescing and `/metrics`
//!   counts the check's runs;
//! - `slow`: `HealthLayer` with a check that takes 3 s (cache TTL 1 s), for readiness latency
//!   while results expire and refresh; `slow_waiting`: the same with the maximum staleness at
//!   the TTL, the waiting baseline.
//!
//! `--only NAME` serves one app alone, so two processes can be measured side by side on the
//! same cores at the same time, or one counted under callgrind: `bare`, `metrics`, `lean`
//! (`MetricsLayer` on a lean collector) or `identity` (`Router::layer` with a layer that does
//! nothing — Axum's price of any layer).

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tower_vitals::{Check, Drain, HealthChecker, HealthLayer, MetricsCollector, MetricsLayer};

/// Serves `app` on an ephemeral port until `drain` shuts it down gracefully.
async fn serve(
    servers: &mut JoinSet<std::io::Result<()>>,
    drain: &Drain,
    name: &str,
    app: Router,
) -> std::io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    println!("{name}={}", listener.local_addr()?);
    let server = axum::serve(listener, app).with_graceful_shutdown(drain.shutdown_signal());
    servers.spawn(server.into_future());
    Ok(())
}

/// `/plain`, and 50 routes `/r{n}/users/{id}` for traffic spread over many routes.
fn plain() -> Router {
    let mut router = Router::new().route("/plain", get(|| async { "plain" }));
    for n in 0..50 {
        router = router.route(&format!("/r{n}/users/{{id}}"), get(|| async { "user" }));
    }
    router
}

/// The apps `--only` serves alone.
const ONLY: [&str; 4] = ["bare", "metrics", "lean", "identity"];

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // No propagation delay: nothing balances load onto these servers.
    let lifecycle = HealthChecker::builder().build()?;
    let drain = Drain::builder(lifecycle)
        .delay(Duration::ZERO)
        .budget(Duration::from_secs(5))
        .build()?;
    let mut servers = JoinSet::new();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let only = match args.as_slice() {
        [] => None,
        [flag, name] if flag == "--only" && ONLY.contains(&name.as_str()) => Some(name.as_str()),
        _ => return Err("usage: load_target [--only bare|metrics|lean|identity]".into()),
    };
    if only.is_none_or(|name| name == "bare") {
        serve(&mut servers, &drain, "bare", plain()).await?;
    }
    if only.is_none_or(|name| name == "metrics") {
        let app = plain().layer(MetricsLayer::new(MetricsCollector::new()).for_axum());
        serve(&mut servers, &drain, "metrics", app).await?;
    }
    if only == Some("lean") {
        let lean = MetricsCollector::builder().lean().build()?;
        let app = plain().layer(MetricsLayer::new(lean).for_axum());
        serve(&mut servers, &drain, "lean", app).await?;
    }
    if only == Some("identity") {
        let app = plain().layer(tower::layer::util::Identity::new());
        serve(&mut servers, &drain, "identity", app).await?;
    }
    if only.is_none() {
        serve_the_others(&mut servers, &drain).await?;
    }
    println!("ready");
    // SIGTERM (load.sh stops it by PID) or Ctrl-C: every server stops gracefully at once.
    drain
        .run(async {
            while let Some(server) = servers.join_next().await {
                server??;
            }
            Ok::<(), Box<dyn std::error::Error>>(())
        })
        .await??;
    Ok(())
}

/// `health`, `slow` and `slow_waiting`.
async fn serve_the_others(
    servers: &mut JoinSet<std::io::Result<()>>,
    drain: &Drain,
) -> Result<(), Box<dyn std::error::Error>> {
    let checker = HealthChecker::builder()
        .register(Check::new("db", || async {
            tokio::time::sleep(Duration::from_millis(100)).await
        }))
        .cache_ttl(Duration::from_secs(1))
        .build()?;
    let metrics = MetricsCollector::new();
    let health = plain()
        .layer(HealthLayer::new(checker).metrics(metrics.clone()))
        .layer(MetricsLayer::new(metrics).for_axum());
    serve(servers, drain, "health", health).await?;

    // The same check twice: served stale while refreshing (the default), and — the baseline —
    // with the maximum staleness at the TTL, so every probe after an expiry waits for the run
    // (up to the 800 ms deadline), as all probes did before stale-while-revalidate.
    for (name, max_staleness) in [
        ("slow", None),
        ("slow_waiting", Some(Duration::from_secs(1))),
    ] {
        let mut slow = HealthChecker::builder()
            .register(
                Check::new("slow-db", || async {
                    tokio::time::sleep(Duration::from_secs(3)).await
                })
                .timeout(Duration::from_secs(5))
                .retries(0),
            )
            .cache_ttl(Duration::from_secs(1));
        if let Some(age) = max_staleness {
            slow = slow.max_staleness(age);
        }
        let app = plain().layer(HealthLayer::new(slow.build()?));
        serve(servers, drain, name, app).await?;
    }
    Ok(())
}
