//! OpenTelemetry, set up as applications do. Exemplars from the current context: `tracing` with
//! `tracing-opentelemetry` over the SDK, a span entered around each request. The metrics
//! bridge: the collector's figures through the app's `Meter`, read back from the SDK's
//! in-memory exporter and, over OTLP/HTTP, by a receiver decoding with the official protobuf
//! definitions (PyPI's `opentelemetry-proto`).
#![cfg(all(feature = "opentelemetry", feature = "axum"))]

mod common;
#[path = "support/exposition_tools.rs"]
mod exposition_tools;
#[path = "support/skip.rs"]
mod skip;

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::middleware::{Next, from_fn};
use axum::routing::get;
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use parking_lot::Mutex;
use tower_vitals::{MetricsCollector, MetricsLayer};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;

/// What the handler saw as its span: (trace id, span id), in hex.
type Seen = Arc<Mutex<Vec<(String, String)>>>;

/// Enters a span around the rest of the request, as tower-http's `TraceLayer` does.
async fn in_a_span(request: Request, next: Next) -> axum::response::Response {
    next.run(request)
        .instrument(tracing::info_span!("request"))
        .await
}

fn app(collector: &MetricsCollector, seen: &Seen) -> Router {
    let seen = seen.clone();
    Router::new()
        .route(
            "/work",
            get(move || {
                let context = tracing::Span::current().context();
                let span = context.span();
                let ids = span.span_context();
                seen.lock()
                    .push((ids.trace_id().to_string(), ids.span_id().to_string()));
                async { "done" }
            }),
        )
        .layer(MetricsLayer::new(collector.clone()))
        .layer(from_fn(in_a_span))
}

/// The exemplars kept for `/work`: (trace id, span id).
fn exemplars(collector: &MetricsCollector) -> Vec<(String, String)> {
    collector
        .snapshot()
        .series
        .iter()
        .filter(|series| &*series.route == "/work")
        .flat_map(|series| series.exemplars.iter().flatten())
        .map(|exemplar| (exemplar.trace.trace_id_hex(), exemplar.trace.span_id_hex()))
        .collect()
}

async fn run(
    sampler: Sampler,
    traceparent: Option<&str>,
) -> (Vec<(String, String)>, Seen, MetricsCollector) {
    let provider = SdkTracerProvider::builder().with_sampler(sampler).build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    // The current-thread runtime runs the server's tasks on this thread.
    let _default = tracing::subscriber::set_default(subscriber);
    let collector = MetricsCollector::new();
    let seen = Seen::default();
    let server = common::serve_router(app(&collector, &seen)).await;
    let mut request = server.client.get(server.url("/work"));
    if let Some(traceparent) = traceparent {
        request = request.header("traceparent", traceparent);
    }
    assert_eq!(request.send().await.unwrap().status(), 200);
    let kept = exemplars(&collector);
    (kept, seen, collector)
}

const HEADER: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

#[tokio::test]
async fn a_sampled_span_leaves_its_trace_and_span_as_the_exemplar() {
    let (kept, seen, _) = run(Sampler::AlwaysOn, None).await;
    let seen = seen.lock().clone();
    assert_eq!(seen.len(), 1);
    assert_ne!(seen[0].0, "00000000000000000000000000000000");
    assert_eq!(kept, seen, "the server span's ids");
}

#[tokio::test]
async fn the_servers_span_comes_before_the_callers_header() {
    let (kept, seen, _) = run(Sampler::AlwaysOn, Some(HEADER)).await;
    assert_eq!(kept, seen.lock().clone());
    assert_ne!(kept[0].0, "0af7651916cd43dd8448eb211c80319c");
}

#[tokio::test]
async fn an_unsampled_span_leaves_the_header_to_decide() {
    let (kept, _, _) = run(Sampler::AlwaysOff, None).await;
    assert!(kept.is_empty(), "{kept:?}");
    let (kept, _, _) = run(Sampler::AlwaysOff, Some(HEADER)).await;
    assert_eq!(
        kept,
        [(
            "0af7651916cd43dd8448eb211c80319c".to_owned(),
            "b7ad6b7169203331".to_owned()
        )]
    );
}

// The metrics bridge.

mod bridge {
    use std::collections::HashMap;
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Command, Stdio};
    use std::time::Duration;

    use axum::Router;
    use axum::http::StatusCode;
    use axum::routing::get;
    use opentelemetry::metrics::MeterProvider;
    use opentelemetry::{KeyValue, Value};
    use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData, ResourceMetrics};
    use opentelemetry_sdk::metrics::{
        Aggregation, InMemoryMetricExporter, Instrument, PeriodicReader, SdkMeterProvider, Stream,
    };
    use tower_vitals::metrics::MetricsSnapshot;
    use tower_vitals::{HealthChecker, MetricsCollector, MetricsLayer};

    use super::common;
    use super::exposition_tools::python_module;

    fn app(collector: &MetricsCollector) -> Router {
        Router::new()
            .route("/orders/{id}", get(|| async { "order" }))
            .route(
                "/boom",
                get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "boom") }),
            )
            .layer(MetricsLayer::new(collector.clone()))
    }

    /// Five orders, two 500s, one request no route matches.
    async fn traffic(collector: &MetricsCollector) -> MetricsSnapshot {
        let server = common::serve_router(app(collector)).await;
        for id in 0..5 {
            assert_eq!(server.get(&format!("/orders/{id}")).await.status, 200);
        }
        for _ in 0..2 {
            assert_eq!(server.get("/boom").await.status, 500);
        }
        assert_eq!(server.get("/nowhere").await.status, 404);
        collector.snapshot()
    }

    /// One data point of a histogram, as both readers see it.
    #[derive(Debug)]
    struct Point {
        attributes: HashMap<String, String>,
        count: u64,
        sum: f64,
    }

    fn text(value: &Value) -> String {
        match value {
            Value::String(s) => s.as_str().to_owned(),
            other => other.to_string(),
        }
    }

    fn attributes<'a>(kvs: impl Iterator<Item = &'a KeyValue>) -> HashMap<String, String> {
        kvs.map(|kv| (kv.key.to_string(), text(&kv.value)))
            .collect()
    }

    /// Every series of the collector has its point: same method, route, status, count, sum.
    fn assert_same_figures(snapshot: &MetricsSnapshot, points: &[Point]) {
        assert_eq!(points.len(), snapshot.series.len(), "{points:?}");
        for series in &snapshot.series {
            let code = match series.status_class {
                "2xx" => "200",
                "4xx" => "404",
                "5xx" => "500",
                other => panic!("unexpected class {other}"),
            };
            let point = points
                .iter()
                .find(|p| {
                    p.attributes
                        .get("http.response.status_code")
                        .map(String::as_str)
                        == Some(code)
                        && p.attributes.get("http.route").map(String::as_str)
                            == (&*series.route != "unmatched").then_some(&*series.route)
                })
                .unwrap_or_else(|| panic!("no point for {series:?} in {points:?}"));
            assert_eq!(point.attributes["http.request.method"], series.method);
            assert_eq!(point.attributes["url.scheme"], "http");
            assert_eq!(
                point.attributes.get("error.type").map(String::as_str),
                (code == "500").then_some("500")
            );
            assert_eq!(point.count, series.count, "{}", series.route);
            let sum = series.latency_sum.as_secs_f64();
            assert!(
                (point.sum - sum).abs() <= 1e-9 * series.count as f64,
                "{} vs {sum}",
                point.sum
            );
        }
    }

    /// An integer point: its instrument's name, attributes and value.
    type Observed = (String, HashMap<String, String>, i64);

    /// The SDK's export: histogram points of the request duration, and the integer points of
    /// every other instrument by name.
    fn read_export(exports: &[ResourceMetrics]) -> (Vec<Point>, Vec<Observed>) {
        let last = exports.last().expect("an export");
        let (mut histogram, mut others) = (Vec::new(), Vec::new());
        for metric in last.scope_metrics().flat_map(|scope| scope.metrics()) {
            match metric.data() {
                AggregatedMetrics::F64(MetricData::Histogram(h)) => {
                    assert_eq!(
                        (metric.name(), metric.unit()),
                        ("http.server.request.duration", "s")
                    );
                    let bounds: Vec<f64> = h.data_points().next().unwrap().bounds().collect();
                    assert_eq!(bounds, tower_vitals::metrics::OTEL_DURATION_BOUNDS);
                    histogram.extend(h.data_points().map(|p| Point {
                        attributes: attributes(p.attributes()),
                        count: p.count(),
                        sum: p.sum(),
                    }));
                }
                AggregatedMetrics::F64(MetricData::ExponentialHistogram(h)) => {
                    histogram.extend(h.data_points().map(|p| Point {
                        attributes: attributes(p.attributes()),
                        count: p.count() as u64,
                        sum: p.sum(),
                    }));
                }
                AggregatedMetrics::I64(MetricData::Sum(sum)) => {
                    others.extend(sum.data_points().map(|p| {
                        (
                            metric.name().to_owned(),
                            attributes(p.attributes()),
                            p.value(),
                        )
                    }))
                }
                AggregatedMetrics::I64(MetricData::Gauge(gauge)) => {
                    others.extend(gauge.data_points().map(|p| {
                        (
                            metric.name().to_owned(),
                            attributes(p.attributes()),
                            p.value(),
                        )
                    }))
                }
                other => panic!("{}: {other:?}", metric.name()),
            }
        }
        (histogram, others)
    }

    /// The traffic through a collector bridged to `provider`'s meter, flushed.
    async fn bridged_traffic(provider: &SdkMeterProvider) -> MetricsSnapshot {
        let collector = MetricsCollector::builder()
            .opentelemetry(&provider.meter("shop"), "http")
            .build()
            .unwrap();
        let snapshot = traffic(&collector).await;
        flush(provider).await;
        snapshot
    }

    async fn flush(provider: &SdkMeterProvider) {
        let provider = provider.clone();
        tokio::task::spawn_blocking(move || provider.force_flush().unwrap())
            .await
            .unwrap();
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn the_meter_gets_the_collectors_figures_and_the_health_status() {
        let exporter = InMemoryMetricExporter::default();
        let provider = SdkMeterProvider::builder()
            .with_reader(PeriodicReader::builder(exporter.clone()).build())
            .build();
        let meter = provider.meter("shop");
        let collector = MetricsCollector::builder()
            .opentelemetry(&meter, "http")
            .build()
            .unwrap();
        let checker = HealthChecker::builder()
            .check("db", || async {})
            .check("cache", || async { Err::<(), _>("connection refused") })
            .build()
            .unwrap();
        checker.report_to_opentelemetry(&meter);
        checker.report().await;
        let snapshot = traffic(&collector).await;
        flush(&provider).await;

        let (points, others) = read_export(&exporter.get_finished_metrics().unwrap());
        assert_same_figures(&snapshot, &points);
        let value = |name: &str, pairs: &[(&str, &str)]| -> i64 {
            others
                .iter()
                .find(|(n, attrs, _)| {
                    n == name
                        && pairs
                            .iter()
                            .all(|(k, v)| attrs.get(*k).map(String::as_str) == Some(*v))
                })
                .unwrap_or_else(|| panic!("{name} {pairs:?} in {others:?}"))
                .2
        };
        assert_eq!(
            value("http.server.active_requests", &[("url.scheme", "http")]),
            0
        );
        assert_eq!(value("vitals.health.status", &[("state", "unhealthy")]), 1);
        assert_eq!(value("vitals.health.status", &[("state", "healthy")]), 0);
        assert_eq!(
            value(
                "vitals.health.component.status",
                &[("component", "db"), ("state", "healthy")]
            ),
            1
        );
        assert_eq!(
            value(
                "vitals.health.component.status",
                &[("component", "cache"), ("state", "unhealthy")]
            ),
            1
        );
        assert_eq!(
            value(
                "vitals.health.component.status",
                &[("component", "cache"), ("state", "healthy")]
            ),
            0
        );

        // Gone with the collector and the checker: nothing more is reported for them (once
        // the test server's last connection task, which holds the collector, has ended: a
        // few flushes at most).
        drop((collector, checker));
        let mut others = Vec::new();
        for _ in 0..100 {
            exporter.reset();
            flush(&provider).await;
            others = read_export(&exporter.get_finished_metrics().unwrap()).1;
            if others.iter().all(|(name, _, _)| {
                name != "http.server.active_requests" && !name.starts_with("vitals.health")
            }) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("still reported after the collector and the checker were dropped: {others:?}");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn an_sdk_view_can_make_it_an_exponential_histogram() {
        let exporter = InMemoryMetricExporter::default();
        let exponential = |instrument: &Instrument| {
            (instrument.name() == "http.server.request.duration").then(|| {
                Stream::builder()
                    .with_aggregation(Aggregation::Base2ExponentialHistogram {
                        max_size: 160,
                        max_scale: 20,
                        record_min_max: true,
                    })
                    .build()
                    .unwrap()
            })
        };
        let provider = SdkMeterProvider::builder()
            .with_reader(PeriodicReader::builder(exporter.clone()).build())
            .with_view(exponential)
            .build();
        let snapshot = bridged_traffic(&provider).await;
        let exports = exporter.get_finished_metrics().unwrap();
        let kinds: Vec<bool> = exports
            .last()
            .unwrap()
            .scope_metrics()
            .flat_map(|s| s.metrics())
            .map(|m| {
                matches!(
                    m.data(),
                    AggregatedMetrics::F64(MetricData::ExponentialHistogram(_))
                )
            })
            .collect();
        assert!(kinds.contains(&true), "an exponential histogram");
        let (points, _) = read_export(&exports);
        assert_same_figures(&snapshot, &points);
    }

    /// Starts `tests/support/otlp_receiver.py`: the process, its port, its lines as they come.
    fn start_receiver() -> (
        std::process::Child,
        String,
        std::sync::mpsc::Receiver<String>,
    ) {
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/support/otlp_receiver.py"
        );
        let mut receiver = Command::new("python3")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(receiver.stdout.take().unwrap()).lines();
        let first = lines.next().unwrap().unwrap();
        let port = first.strip_prefix("port=").expect("port=N first");
        let (sender, received) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });

        (receiver, port.to_owned(), received)
    }

    /// The request-duration points and the active requests of the receiver's next export.
    fn read_receiver(received: &std::sync::mpsc::Receiver<String>) -> (Vec<Point>, Option<i64>) {
        let mut points = Vec::new();
        let mut active = None;
        loop {
            let line = received
                .recv_timeout(Duration::from_secs(20))
                .expect("an export");
            let row: serde_json::Value = serde_json::from_str(&line).unwrap();
            if row.get("export").is_some() {
                break;
            }
            let attrs: HashMap<String, String> = row["attributes"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                    )
                })
                .collect();
            match row["metric"].as_str().unwrap() {
                "http.server.request.duration" => {
                    assert_eq!(
                        (row["kind"].as_str(), row["unit"].as_str()),
                        (Some("histogram"), Some("s"))
                    );
                    points.push(Point {
                        attributes: attrs,
                        count: row["count"].as_u64().unwrap(),
                        sum: row["sum"].as_f64().unwrap(),
                    });
                }
                "http.server.active_requests" => active = row["value"].as_i64(),
                other => panic!("unexpected metric {other}"),
            }
        }
        (points, active)
    }

    /// The OTLP/HTTP exporter to a receiver that decodes with the official protobuf
    /// definitions; skipped unless PyPI's `opentelemetry-proto` is installed (CI installs it
    /// and sets REQUIRE_OTLP_PROTO=1).
    #[tokio::test(flavor = "multi_thread")]
    async fn otlp_over_http_carries_the_same_figures() {
        use opentelemetry_otlp::{MetricExporter, Protocol, WithExportConfig};
        let module = "opentelemetry.proto.collector.metrics.v1.metrics_service_pb2";
        if !python_module(module, "REQUIRE_OTLP_PROTO") {
            return;
        }
        let (mut receiver, port, received) = start_receiver();
        let exporter = MetricExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(format!("http://127.0.0.1:{port}/v1/metrics"))
            .build()
            .unwrap();
        let provider = SdkMeterProvider::builder()
            .with_reader(PeriodicReader::builder(exporter).build())
            .build();
        let snapshot = bridged_traffic(&provider).await;

        let (points, active) = read_receiver(&received);
        assert_same_figures(&snapshot, &points);
        assert_eq!(active, Some(0));
        drop(receiver.stdin.take().unwrap().write_all(b""));
        let _ = receiver.kill();
        let _ = receiver.wait();
    }
}
