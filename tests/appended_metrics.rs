//! The app's own metrics on `/metrics`: a `metrics-exporter-prometheus` handle and a
//! `prometheus-client` registry appended through `HealthLayer::append_metrics`, over a real
//! server, in both formats — promtool accepts the combined text, Python's OpenMetrics parser
//! the combined OpenMetrics; a family whose name the layer already uses is left out once.
#![cfg(all(feature = "axum", feature = "process"))]

mod common;
#[path = "support/exposition_tools.rs"]
mod exposition_tools;
#[path = "support/skip.rs"]
mod skip;

use std::sync::Arc;

use exposition_tools::{SCRAPE_ACCEPT, openmetrics_parser, promtool};
use metrics_exporter_prometheus::PrometheusBuilder;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tower_vitals::{HealthChecker, HealthLayer};

/// A `metrics` recorder (not the global one) with a counter and a histogram recorded.
fn metrics_rs() -> impl Fn() -> String + Send + Sync + 'static {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::with_local_recorder(&recorder, || {
        metrics::describe_counter!("app_jobs_total", "Jobs run.");
        metrics::counter!("app_jobs_total", "queue" => "mail").increment(3);
        metrics::describe_histogram!("app_job_seconds", "Time a job took.");
        metrics::histogram!("app_job_seconds").record(0.25);
        metrics::describe_gauge!("process_threads", "A clash with the layer's family.");
        metrics::gauge!("process_threads").set(99.0);
    });
    move || handle.render()
}

/// A `prometheus-client` registry: a labelled counter, a gauge, and a gauge whose name the
/// layer already uses (`vitals_uptime_seconds`).
fn prometheus_client() -> impl Fn() -> String + Send + Sync + 'static {
    let mut registry = Registry::default();
    let logins = Family::<Vec<(String, String)>, Counter>::default();
    registry.register("app_logins", "Logins.", logins.clone());
    logins
        .get_or_create(&vec![("method".to_owned(), "password".to_owned())])
        .inc_by(2);
    let sessions = Gauge::<i64>::default();
    registry.register("app_sessions", "Open sessions.", sessions.clone());
    sessions.set(5);
    let clash = Gauge::<i64>::default();
    registry.register("vitals_uptime_seconds", "A clash.", clash.clone());
    let registry = Arc::new(registry);
    move || {
        let mut text = String::new();
        encode(&mut text, &registry).unwrap();
        text
    }
}

#[tokio::test]
async fn other_registries_join_the_exposition_in_either_format() {
    let checker = HealthChecker::builder()
        .check("db", || async {})
        .build()
        .unwrap();
    let layer = HealthLayer::new(checker)
        .append_metrics(metrics_rs())
        .append_metrics(prometheus_client());
    let server = common::serve(layer).await;

    let text = String::from_utf8(server.get("/metrics").await.body).unwrap();
    for line in [
        "# TYPE app_jobs_total counter",
        "app_jobs_total{queue=\"mail\"} 3",
        "# TYPE app_logins_total counter",
        "app_logins_total{method=\"password\"} 2",
        "app_sessions 5",
        "# TYPE vitals_uptime_seconds gauge",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
    assert_eq!(text.matches("# TYPE vitals_uptime_seconds ").count(), 1);
    assert_eq!(text.matches("# TYPE process_threads ").count(), 1);
    assert!(
        !text.contains("process_threads 99"),
        "the clashing family is left out"
    );
    if let Some((passed, said)) = promtool(&text) {
        assert!(passed && said.trim().is_empty(), "promtool:\n{said}");
    }

    let reply = server.get_accepting("/metrics", SCRAPE_ACCEPT).await;
    let openmetrics = String::from_utf8(reply.body).unwrap();
    assert_eq!(openmetrics.matches("# EOF").count(), 1);
    assert!(openmetrics.ends_with("# EOF\n"));
    for line in [
        "# TYPE app_jobs counter",
        "app_jobs_total{queue=\"mail\"} 3",
        "# TYPE app_logins counter",
        "app_logins_total{method=\"password\"} 2",
    ] {
        assert!(
            openmetrics.lines().any(|l| l == line),
            "missing {line:?} in\n{openmetrics}"
        );
    }
    if let Some(families) = openmetrics_parser(&openmetrics) {
        for family in [
            "app_jobs counter",
            "app_logins counter",
            "app_sessions gauge",
            "app_job_seconds summary",
        ] {
            assert!(
                families.iter().any(|f| f == family),
                "{family} in {families:?}"
            );
        }
    }
}
