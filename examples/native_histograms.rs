//! Prometheus native histograms: the collector keeps exponential buckets per series, and
//! `/metrics` answers in the protobuf exposition when the scraper asks for it (Prometheus
//! started with `--enable-feature=native-histograms` does), with the classic buckets too.
//!
//! `cargo run --example native_histograms --features protobuf`, then
//! `curl 'localhost:3000/work?ms=120'`. `GET /work?ms=N` answers after N milliseconds (at most
//! 10 000), so a load generator chooses the latencies. `ADDR` moves it (`127.0.0.1:0` for any
//! port: the address is printed); SIGTERM or Ctrl-C drains it. `.ci/native-histograms.sh` runs
//! three of these behind a real Prometheus and compares its quantiles with the truth.
//!
//! With `--features protobuf,opentelemetry` the handler also records its work in an
//! OpenTelemetry exponential histogram (`work.duration`, the app's own instrument), which
//! `/metrics` serves as the native histogram `work_duration_seconds` (`OtelReader`).

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::routing::get;
use serde::Deserialize;
use tokio::net::TcpListener;
use tower_vitals::{Drain, HealthChecker, HealthLayer, MetricsCollector, MetricsLayer};
use tracing_subscriber::EnvFilter;

#[derive(Deserialize)]
struct Work {
    ms: u64,
}

async fn work(Query(Work { ms }): Query<Work>) -> Result<&'static str, (StatusCode, String)> {
    if ms > 10_000 {
        return Err((StatusCode::BAD_REQUEST, format!("ms={ms}: at most 10000\n")));
    }
    let started = std::time::Instant::now();
    tokio::time::sleep(Duration::from_millis(ms)).await;
    #[cfg(feature = "opentelemetry")]
    if let Some(histogram) = otel::WORK.get() {
        histogram.record(started.elapsed().as_secs_f64(), &[]);
    }
    let _ = started;
    Ok("done\n")
}

/// The app's own OpenTelemetry instrument, on the same `/metrics`.
#[cfg(feature = "opentelemetry")]
mod otel {
    use std::sync::OnceLock;

    use opentelemetry::metrics::{Histogram, MeterProvider as _};
    use opentelemetry_sdk::metrics::{Aggregation, Instrument, SdkMeterProvider, Stream};
    use tower_vitals::render::OtelReader;

    pub(crate) static WORK: OnceLock<Histogram<f64>> = OnceLock::new();

    /// The provider, read at each scrape by the returned reader; `work.duration` an
    /// exponential histogram (the SDK's default scale, merged down to 8 for Prometheus).
    pub(crate) fn start() -> (SdkMeterProvider, OtelReader) {
        let reader = OtelReader::new();
        let exponential = |instrument: &Instrument| {
            (instrument.name() == "work.duration").then(|| {
                let aggregation = Aggregation::Base2ExponentialHistogram {
                    max_size: 160,
                    max_scale: 20,
                    record_min_max: true,
                };
                Stream::builder().with_aggregation(aggregation).build().ok()
            })?
        };
        let provider = SdkMeterProvider::builder()
            .with_reader(reader.clone())
            .with_view(exponential)
            .build();
        let histogram = provider
            .meter("native_histograms")
            .f64_histogram("work.duration")
            .with_unit("s")
            .with_description("Time a /work request spent working.")
            .build();
        let _ = WORK.set(histogram);
        (provider, reader)
    }
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
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
    let addr: SocketAddr = std::env::var("ADDR")
        .unwrap_or_else(|_| "127.0.0.1:3000".into())
        .parse()?;

    let checker = HealthChecker::builder()
        .check("self", || async {})
        .build()?;
    // Exponential buckets beside the classic ones: scale 4 (2.2 %) while 160 buckets hold a
    // series' spread, coarser past that.
    let collector = MetricsCollector::builder().native_histograms().build()?;
    let drain = Drain::builder(checker.clone())
        .delay(Duration::from_secs(1))
        .metrics(collector.clone())
        .build()?;
    let health = HealthLayer::new(checker).metrics(collector.clone());
    #[cfg(feature = "opentelemetry")]
    let (_provider, health) = {
        let (provider, reader) = otel::start();
        (provider, health.otel_metrics(&reader))
    };
    let router = Router::new()
        .route("/work", get(work))
        .layer(MetricsLayer::new(collector).for_axum());
    let app = health.around(router);

    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e} (set ADDR to use another address)"))?;
    let base = format!("http://{}", listener.local_addr()?);
    println!("native_histograms example listening on {base}: {base}/work?ms=120, {base}/metrics");
    let server = axum::serve(listener, app.into_make_service())
        .with_graceful_shutdown(drain.shutdown_signal());
    drain.run(server.into_future()).await??;
    println!("drained: stopped");
    Ok(())
}
