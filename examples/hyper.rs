//! A plain Hyper 1.x server with the layers: `cargo run --example hyper`.
//!
//! No framework: a `service_fn` app with two routes, wrapped in `MetricsLayer` and `HealthLayer`
//! with `tower::ServiceBuilder`, served by hyper-util's auto (HTTP/1 and HTTP/2) connection
//! builder. Listens on 127.0.0.1:3001 (`ADDR` to change it). SIGTERM or Ctrl-C drains it with
//! hyper-util's graceful shutdown ([`Drain`]).

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::{ServiceBuilder, service_fn};
use tower_vitals::checks::RuntimeCheck;
use tower_vitals::health::DetailPolicy;
use tower_vitals::{
    Check, Drain, HealthChecker, HealthConfig, HealthLayer, MetricsCollector, MetricsLayer,
};

/// The app: `GET /` and `GET /time`; everything else 404.
async fn app(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (status, body) = match request.uri().path() {
        "/" => (StatusCode::OK, "hello from hyper\n".to_owned()),
        "/time" => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            (StatusCode::OK, format!("{}\n", now.as_secs()))
        }
        _ => (StatusCode::NOT_FOUND, "not found\n".to_owned()),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    Ok(response)
}

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
    let addr: SocketAddr = std::env::var("ADDR")
        .unwrap_or_else(|_| "127.0.0.1:3001".into())
        .parse()?;
    let config = HealthConfig::from_env()?;
    let checker = HealthChecker::builder()
        .register(Check::new("runtime", RuntimeCheck::new()))
        .config(&config)
        .build()?;
    let metrics = MetricsCollector::new();
    // Details for everyone: a demo on loopback (the default hides them).
    let health = HealthLayer::new(checker.clone())
        .metrics(metrics.clone())
        .details(DetailPolicy::Always)
        .config(&config)?;
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    println!("tower-vitals hyper example listening on http://{local}");
    for path in health.paths() {
        println!("  health  http://{local}{path}");
    }
    println!("  app     http://{local}/  and  http://{local}/time");

    let service = ServiceBuilder::new()
        .layer(health)
        .layer(MetricsLayer::new(metrics.clone()))
        .service(service_fn(app));
    // SIGTERM or Ctrl-C: readiness 503 at once, requests served for the delay, then hyper-util's
    // graceful shutdown of every connection, bounded by the budget.
    let drain = Drain::builder(checker)
        .metrics(metrics)
        .config(&config)
        .build()?;
    let graceful = GracefulShutdown::new();
    let connections = auto::Builder::new(TokioExecutor::new());
    let server = async {
        let shutdown = drain.shutdown_signal();
        tokio::pin!(shutdown);
        loop {
            let (stream, _) = tokio::select! {
                accepted = listener.accept() => accepted?,
                () = &mut shutdown => break,
            };
            let service = TowerToHyperService::new(service.clone());
            let connection = connections
                .serve_connection(TokioIo::new(stream), service)
                .into_owned();
            let connection = graceful.watch(connection);
            tokio::spawn(async move {
                if let Err(error) = connection.await {
                    eprintln!("connection error: {error}");
                }
            });
        }
        // Each connection finishes the request it is on, then closes.
        graceful.shutdown().await;
        Ok::<(), std::io::Error>(())
    };
    drain.run(server).await??;
    Ok(())
}
