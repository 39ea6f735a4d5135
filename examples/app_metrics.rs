//! The app's own metrics on the same `/metrics` as tower-vitals': one registry of the
//! `metrics` crate (exported by `metrics-exporter-prometheus`) and one of `prometheus-client`,
//! appended with `HealthLayer::append_metrics`. `/metrics` answers in the format the scraper
//! asks for (Prometheus asks for OpenMetrics; curl gets text 0.0.4).
//!
//! `cargo run --example app_metrics`, then `curl localhost:3000/orders` and
//! `curl localhost:3000/metrics`. `ADDR` moves it; SIGTERM or Ctrl-C drains it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusBuilder;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tower_vitals::{Drain, HealthChecker, HealthLayer, MetricsCollector, MetricsLayer};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
    let addr: SocketAddr = std::env::var("ADDR")
        .unwrap_or_else(|_| "127.0.0.1:3000".into())
        .parse()?;

    // The `metrics` crate's global recorder, as an app using `metrics::counter!` has it.
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder)?;
    metrics::describe_counter!("shop_orders_total", "Orders placed.");

    // A prometheus-client registry, as an app using that crate has it.
    let mut registry = Registry::default();
    let logins = Counter::<u64>::default();
    registry.register("shop_logins", "Logins.", logins.clone());
    let registry = Arc::new(registry);

    let checker = HealthChecker::builder()
        .check("self", || async {})
        .build()?;
    let collector = MetricsCollector::new();
    let drain = Drain::builder(checker.clone())
        .delay(Duration::from_secs(1))
        .metrics(collector.clone())
        .build()?;
    let health = HealthLayer::new(checker)
        .metrics(collector.clone())
        .append_metrics(move || handle.render())
        .append_metrics(move || {
            let mut text = String::new();
            prometheus_client::encoding::text::encode(&mut text, &registry)
                .expect("writing into a String");
            text
        });

    let router = Router::new()
        .route(
            "/orders",
            get(|| async {
                metrics::counter!("shop_orders_total").increment(1);
                "order placed\n"
            }),
        )
        .route(
            "/login",
            get(move || async move {
                logins.inc();
                "welcome\n"
            }),
        )
        .layer(MetricsLayer::new(collector).for_axum());
    let app = health.around(router);

    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e} (set ADDR to use another address)"))?;
    let base = format!("http://{}", listener.local_addr()?);
    println!(
        "app_metrics example listening on {base}: {base}/orders, {base}/login, {base}/metrics"
    );
    let server = axum::serve(listener, app.into_make_service())
        .with_graceful_shutdown(drain.shutdown_signal());
    drain.run(server.into_future()).await??;
    println!("drained: stopped");
    Ok(())
}
