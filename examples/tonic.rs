//! A Tonic gRPC server with health endpoints: `cargo run --example tonic --features tonic`.
//!
//! Serves the standard `grpc.health.v1.Health` service (tonic-health) fed by the checker, per
//! service name, and — HTTP/1 accepted on the same port — `/health/live`, `/health/ready`,
//! `/health`, `/metrics` answered by `HealthLayer`; `MetricsLayer`, inside tonic's router, counts
//! every gRPC call per service (a non-zero `grpc-status` is a failure). Listens on
//! 127.0.0.1:50051 (`ADDR` to change it).
//! Ctrl-C marks the service not ready (every gRPC service turns NOT_SERVING), waits a moment
//! for load balancers to notice, then stops.
//!
//! Try: `grpcurl -plaintext 127.0.0.1:50051 grpc.health.v1.Health/Check` or
//! `curl 127.0.0.1:50051/health/ready`.

use std::net::SocketAddr;

use tokio::net::TcpListener;
use tonic::service::Routes;
use tonic::transport::Server;
use tower_vitals::checks::TcpCheck;
use tower_vitals::health::DetailPolicy;
use tower_vitals::{
    Check, Drain, GrpcHealth, HealthChecker, HealthConfig, HealthLayer, MetricsCollector,
    MetricsLayer, Selector,
};

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
        .with_env_filter("info")
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
    let addr: SocketAddr = std::env::var("ADDR")
        .unwrap_or_else(|_| "127.0.0.1:50051".into())
        .parse()?;

    // A stand-in database the example opens itself, checked with a real TCP connect.
    let database = TcpListener::bind("127.0.0.1:0").await?;
    let database_addr = database.local_addr()?;
    tokio::spawn(async move {
        while let Ok((socket, _)) = database.accept().await {
            drop(socket);
        }
    });

    let config = HealthConfig::from_env()?;
    let checker = HealthChecker::builder()
        .register(Check::new("database", TcpCheck::new(database_addr.to_string())).tag("health"))
        .config(&config)
        .build()?;
    let (reporter, health_service) = tonic_health::server::health_reporter();
    let bridge = GrpcHealth::new(checker.clone(), reporter)
        .service("grpc.health.v1.Health", Selector::tagged("health"))
        .spawn();

    let metrics = MetricsCollector::new();
    // Details for everyone: a demo on loopback (the default hides them).
    let health = HealthLayer::new(checker.clone())
        .metrics(metrics.clone())
        .details(DetailPolicy::Always)
        .config(&config)?;
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    println!("tower-vitals tonic example listening on {local} (gRPC and HTTP/1)");
    println!("  gRPC health  grpcurl -plaintext {local} grpc.health.v1.Health/Check");
    for path in health.paths() {
        println!("  HTTP         http://{local}{path}");
    }

    // MetricsLayer inside the router, where Axum has matched the service: calls are labelled
    // `/grpc.health.v1.Health/{*rest}`. (Behind `Server::layer` they would be `unmatched`.)
    let routes = Routes::new(health_service)
        .into_axum_router()
        .layer(MetricsLayer::new(metrics.clone()));
    let metrics_for_drain = metrics;
    // SIGTERM or Ctrl-C: gRPC health NOT_SERVING and readiness 503 at once, requests served for
    // the delay, then a graceful stop bounded by the budget; a second signal stops at once.
    let drain = Drain::builder(checker.clone())
        .metrics(metrics_for_drain)
        .config(&config)
        .build()?;
    let server = Server::builder()
        .accept_http1(true)
        .layer(health)
        .add_routes(routes.into())
        .serve_with_incoming_shutdown(
            tokio_stream::wrappers::TcpListenerStream::new(listener),
            drain.shutdown_signal(),
        );
    drain.run(server).await??;
    bridge.abort();
    Ok(())
}
