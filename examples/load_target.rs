//! The servers `benches/load.sh` drives with wrk: `cargo run --release --example load_target`.
//!
//! Three Axum apps on loopback, printed as `name=address` lines:
//! - `bare`: `GET /plain` with no layers — the baseline;
//! - `metrics`: the same route behind `MetricsLayer`;
//! - `health`: `GET /plain` behind `MetricsLayer` and `HealthLayer`, with a check that takes
//!   100 ms (cache TTL 1 s), so `/health/ready` under load shows the coalescing and `/metrics`
//!   counts the check's runs.

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
    println!("ready");
    tokio::signal::ctrl_c().await?;
    Ok(())
}
