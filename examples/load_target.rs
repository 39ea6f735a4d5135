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

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use tokio::net::TcpListener;
use tower_vitals::{Check, HealthChecker, HealthLayer, MetricsCollector, MetricsLayer};

async fn serve(name: &str, app: Router) -> std::io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    println!("{name}={}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(())
}

fn plain() -> Router {
    Router::new().route("/plain", get(|| async { "plain" }))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    serve("bare", plain()).await?;
    serve(
        "metrics",
        plain().layer(MetricsLayer::new(MetricsCollector::new())),
    )
    .await?;

    let checker = HealthChecker::builder()
        .register(Check::new("db", || async {
            tokio::time::sleep(Duration::from_millis(100)).await
        }))
        .cache_ttl(Duration::from_secs(1))
        .build()?;
    let metrics = MetricsCollector::new();
    let health = plain()
        .layer(HealthLayer::new(checker).metrics(metrics.clone()))
        .layer(MetricsLayer::new(metrics));
    serve("health", health).await?;

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
        serve(name, plain().layer(HealthLayer::new(slow.build()?))).await?;
    }
    println!("ready");
    tokio::signal::ctrl_c().await?;
    Ok(())
}
