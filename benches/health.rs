//! `cargo bench --bench health`: the cost of health answers and of the checker's aggregation.

use std::convert::Infallible;
use std::time::Duration;

use divan::Bencher;
use futures_util::FutureExt;
use http::{Request, Response};
use tower::{Layer, Service, ServiceExt, service_fn};
use tower_vitals::{HealthChecker, HealthLayer, HealthStatus, Selector};

fn main() {
    divan::main();
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn checker(checks: usize, ttl: Duration) -> HealthChecker {
    (0..checks)
        .fold(HealthChecker::builder(), |builder, i| {
            builder.check(format!("check-{i}"), || async { HealthStatus::Healthy })
        })
        .cache_ttl(ttl)
        .build()
        .unwrap()
}

fn app() -> impl Service<Request<String>, Response = Response<String>, Error = Infallible> + Clone {
    service_fn(|_req: Request<String>| async { Ok(Response::new(String::from("app"))) })
}

/// A whole readiness request through the layer, answered from the cache (3 checks).
#[divan::bench]
fn readiness_cached(bencher: Bencher<'_, '_>) {
    let checker = checker(3, Duration::from_secs(3600));
    runtime().block_on(checker.report()); // fill the cache
    let mut service = HealthLayer::new(checker).layer(app());
    bencher.bench_local(|| {
        let request = Request::get("/health/ready").body(String::new()).unwrap();
        let response = service.call(request).now_or_never().unwrap().unwrap();
        assert_eq!(response.status(), 200);
        response
    });
}

/// Liveness through the layer.
#[divan::bench]
fn liveness(bencher: Bencher<'_, '_>) {
    let mut service = HealthLayer::new(checker(3, Duration::from_secs(1))).layer(app());
    bencher.bench_local(|| {
        let request = Request::get("/health/live").body(String::new()).unwrap();
        service.call(request).now_or_never().unwrap().unwrap()
    });
}

/// An app request through the layer, and the same request to the bare app: the layer's cost on
/// traffic that is not for it.
#[divan::bench(args = ["bare", "layered"])]
fn passthrough(bencher: Bencher<'_, '_>, which: &str) {
    let bare = app();
    let layered = HealthLayer::new(checker(3, Duration::from_secs(1))).layer(app());
    let request = || Request::get("/orders").body(String::new()).unwrap();
    match which {
        "bare" => bencher.bench_local(|| bare.clone().oneshot(request()).now_or_never()),
        _ => bencher.bench_local(|| {
            layered
                .clone()
                .oneshot(request())
                .now_or_never()
                .map(|r| r.map(|_| ()))
        }),
    }
}

/// A report over 100 trivial checks that all run (TTL 0): spawn, run and aggregate, on a
/// current-thread runtime and on a 2-worker multi-thread one.
#[divan::bench(args = ["current_thread", "multi_thread"])]
fn aggregate_100_checks_run(bencher: Bencher<'_, '_>, flavor: &str) {
    let runtime = match flavor {
        "current_thread" => runtime(),
        _ => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap(),
    };
    let checker = checker(100, Duration::ZERO);
    bencher.bench_local(|| {
        // As in a server: the report is made inside a task on the runtime.
        let checker = checker.clone();
        let report = runtime.block_on(runtime.spawn(async move { checker.report().await }));
        assert_eq!(report.as_ref().unwrap().components.len(), 100);
        report
    });
}

/// A report over 100 checks answered from the cache.
#[divan::bench]
fn aggregate_100_checks_cached(bencher: Bencher<'_, '_>) {
    let checker = checker(100, Duration::from_secs(3600));
    runtime().block_on(checker.report());
    bencher.bench_local(|| checker.cached_report(&Selector::all()).unwrap());
}

/// `GET /metrics` through the layer: 50 routes with traffic, 50 checks (cached), process
/// figures; the whole exposition rendered for every request.
#[divan::bench(args = ["with process figures"])]
fn prometheus_50_routes_50_checks(bencher: Bencher<'_, '_>, _: &str) {
    let collector = tower_vitals::MetricsCollector::new();
    let routes: Vec<String> = (0..50)
        .map(|i| format!("/api/v1/resource{i}/{{id}}"))
        .collect();
    for (i, route) in routes.iter().enumerate() {
        for n in 0..20u64 {
            collector.record(&tower_vitals::metrics::RequestRecord {
                route: Some(route),
                method: if i % 2 == 0 {
                    &http::Method::GET
                } else {
                    &http::Method::POST
                },
                outcome: tower_vitals::metrics::Outcome::status(http::StatusCode::OK),
                duration: Duration::from_micros(100 + n * 997),
                time_to_headers: None,
            });
        }
    }
    let checker = checker(50, Duration::from_secs(3600));
    let runtime = runtime();
    runtime.block_on(checker.report());
    let mut service = HealthLayer::new(checker).metrics(collector).layer(app());
    bencher.bench_local(|| {
        let request = Request::get("/metrics").body(String::new()).unwrap();
        // The process figures are read on a blocking thread: the answer waits for it.
        let response = runtime.block_on(service.call(request)).unwrap();
        assert_eq!(response.status(), 200);
        response
    });
}

/// Part of the exposition's cost: reading the process figures from /proc.
#[divan::bench]
fn prometheus_part_process_read() -> Result<tower_vitals::ProcessStats, String> {
    tower_vitals::ProcessStats::read()
}

/// Part of the exposition's cost: a collector snapshot with 50 routes.
#[divan::bench]
fn prometheus_part_snapshot_50_routes(bencher: Bencher<'_, '_>) {
    let collector = tower_vitals::MetricsCollector::new();
    let routes: Vec<String> = (0..50)
        .map(|i| format!("/api/v1/resource{i}/{{id}}"))
        .collect();
    for route in &routes {
        collector.record(&tower_vitals::metrics::RequestRecord {
            route: Some(route),
            method: &http::Method::GET,
            outcome: tower_vitals::metrics::Outcome::status(http::StatusCode::OK),
            duration: Duration::from_micros(100),
            time_to_headers: None,
        });
    }
    bencher.bench_local(|| collector.snapshot());
}
