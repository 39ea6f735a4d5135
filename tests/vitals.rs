//! One snapshot for every endpoint, the application's own report sources, and metrics that
//! leave out whatever paths the health layer serves — over a real Axum server.
#![cfg(all(feature = "axum", feature = "process"))]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use tower_vitals::health::DetailPolicy;
use tower_vitals::metrics::{MetricsCollector, MetricsLayer};
use tower_vitals::report::{ReliabilityConfig, Rule, Severity};
use tower_vitals::vitals::{Source, VitalsGatherer};
use tower_vitals::{HealthChecker, HealthConfig, HealthLayer, HealthStatus, render};

/// `name{labels} value` lines of a Prometheus text exposition, labels as written.
fn sample(text: &str, name_and_labels: &str) -> f64 {
    text.lines()
        .find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            (series == name_and_labels).then(|| value.parse().unwrap())
        })
        .unwrap_or_else(|| panic!("no sample {name_and_labels} in\n{text}"))
}

#[tokio::test]
async fn metrics_and_health_render_the_same_figures_from_one_snapshot() {
    let collector = MetricsCollector::new();
    let checker = HealthChecker::builder()
        .check("db", || async {})
        .check("search", || async { Err::<(), _>("index closed") })
        .build()
        .unwrap();
    let app = Router::new()
        .route("/orders/{id}", get(|| async { "order" }))
        .layer(MetricsLayer::new(collector.clone()));
    let server = common::serve_router(app).await;
    for id in 0..7 {
        assert_eq!(server.get(&format!("/orders/{id}")).await.status, 200);
    }

    let gatherer = VitalsGatherer::builder(checker)
        .metrics(collector)
        .build()
        .unwrap();
    let vitals = gatherer.gather().await;
    let text = render::prometheus(&vitals);
    let health: serde_json::Value = serde_json::from_slice(&render::health(&vitals).body).unwrap();

    // Overall and per-component status.
    assert_eq!(health["status"], "unhealthy");
    assert_eq!(
        sample(&text, r#"vitals_health_status{state="unhealthy"}"#),
        1.0
    );
    for component in health["components"].as_array().unwrap() {
        let (name, status) = (&component["name"], component["status"].as_str().unwrap());
        let series =
            format!(r#"vitals_health_component_status{{component={name},state="{status}"}}"#);
        assert_eq!(sample(&text, &series), 1.0, "{series}");
    }
    // Requests: the window count in /health equals the route's count in /metrics.
    let performance = &health["performance"];
    assert_eq!(performance["requests"], 7);
    let labels = r#"route="/orders/{id}",method="GET",status_class="2xx""#;
    assert_eq!(
        sample(
            &text,
            &format!("vitals_http_server_requests_total{{{labels}}}")
        ),
        7.0
    );
    assert_eq!(
        performance["in_flight"].as_f64().unwrap(),
        sample(&text, "vitals_http_server_requests_in_flight")
    );
    // The process figures came from the same gathering, read off the request path.
    let process = vitals.process.ready().expect("process figures");
    assert_eq!(
        sample(&text, "process_threads"),
        process.stats.threads as f64
    );
}

/// An application source and a rule over it, through a real server's reliability report.
#[tokio::test]
async fn an_application_source_and_its_rule_show_in_the_reliability_report() {
    let latency = Arc::new(AtomicU64::new(9000));
    let seen = latency.clone();
    let config = ReliabilityConfig::new()
        .cache_ttl(Duration::ZERO)
        .unwrap()
        .source_timeout(Duration::from_millis(300))
        .unwrap()
        .source("ingestion", move || {
            let latency = seen.load(Ordering::SeqCst);
            async move { serde_json::json!({ "latency_ms": latency, "queue": 4 }) }
        })
        .unwrap()
        .source("edge", || async {
            Err::<serde_json::Value, _>("edge statistics service refused: password=hunter2")
        })
        .unwrap()
        .source("websockets", || async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            serde_json::json!({ "open": 1 })
        })
        .unwrap()
        .optional_source("traces", || async {
            serde_json::json!({ "slowest": ["a1"] })
        })
        .unwrap()
        .rule(Rule::above("SLOW_INGEST", Severity::Warning, 5000.0, |o| {
            o.source("ingestion")?.get("latency_ms")?.as_f64()
        }))
        .unwrap();
    let checker = HealthChecker::builder()
        .check("db", || async {})
        .build()
        .unwrap();
    let layer = HealthLayer::new(checker)
        .details(DetailPolicy::Always)
        .reliability(config);
    let server = common::serve(layer).await;

    let reply = server.get("/health/reliability").await;
    let report = reply.json();
    assert_eq!(
        reply.status, 200,
        "a warning degrades, degraded answers 200"
    );
    assert_eq!(report["status"], "degraded");
    let metrics = &report["metrics"];
    assert_eq!(metrics["ingestion"]["latency_ms"], 9000);
    assert_eq!(metrics["ingestion"]["queue"], 4);
    let edge = metrics["edge"]["error"].as_str().unwrap();
    assert!(
        edge.contains("refused") && !edge.contains("hunter2"),
        "{edge}"
    );
    assert_eq!(metrics["websockets"]["error"], "no answer within 300 ms");
    assert!(metrics.get("traces").is_none(), "optional: only when asked");
    assert!(
        metrics["process"].get("threads").is_some(),
        "built-ins still there"
    );
    let anomalies = report["anomalies"].as_array().unwrap();
    assert!(
        anomalies.iter().any(|a| a["rule"] == "SLOW_INGEST"),
        "{anomalies:?}"
    );

    latency.store(20, Ordering::SeqCst);
    let report = server
        .get("/health/reliability?include=traces")
        .await
        .json();
    assert_eq!(report["status"], "healthy");
    assert_eq!(report["metrics"]["traces"]["slowest"][0], "a1");
    assert!(report["anomalies"].as_array().unwrap().is_empty());

    let unknown = server.get("/health/reliability?include=nope").await;
    assert_eq!(unknown.status, 400);
    assert_eq!(unknown.json()["source"], "nope");
}

#[tokio::test]
async fn with_a_prefix_from_the_environment_probes_are_not_counted_as_traffic() {
    let config = HealthConfig::from_vars([("HEALTH_PATH_PREFIX", "/internal")]).unwrap();
    let checker = HealthChecker::builder()
        .check("db", || async {})
        .build()
        .unwrap();
    let collector = MetricsCollector::new();
    let health = HealthLayer::new(checker)
        .config(&config)
        .unwrap()
        .metrics(collector.clone());
    let app = Router::new()
        .route(
            "/health",
            get(|| async { "an app route named like a probe" }),
        )
        .layer(health)
        .layer(MetricsLayer::new(collector.clone()));
    let server = common::serve_router(app).await;

    for path in [
        "/internal/health/live",
        "/internal/health/ready",
        "/internal/health",
        "/internal/metrics",
        "/internal/health/ready/",
    ] {
        assert_eq!(server.get(path).await.status, 200, "{path}");
    }
    assert_eq!(
        collector.snapshot().totals.requests,
        0,
        "probes are not traffic"
    );
    assert_eq!(
        server.get("/health").await.body,
        b"an app route named like a probe"
    );
    let snapshot = collector.snapshot();
    assert_eq!(snapshot.totals.requests, 1, "the app's own /health is");
    assert_eq!(snapshot.series[0].route.as_ref(), "/health");
}

#[tokio::test]
async fn a_gatherer_rejects_bad_sources_and_reports_failed_ones() {
    let checker = HealthChecker::builder().build().unwrap();
    let duplicate = VitalsGatherer::builder(checker.clone())
        .source("a", || async { serde_json::json!({}) })
        .source("a", || async { serde_json::json!({}) })
        .build();
    assert_eq!(
        duplicate.unwrap_err().to_string(),
        "a report source named \"a\" was added already"
    );
    for bad in ["", "Upper", "requests", "with space"] {
        let built = VitalsGatherer::builder(checker.clone())
            .source(bad, || async { serde_json::json!({}) })
            .build();
        assert!(built.is_err(), "{bad:?}");
    }
    let timeout = VitalsGatherer::builder(checker.clone())
        .source_timeout(Duration::ZERO)
        .build();
    assert!(timeout.is_err());

    let vitals = VitalsGatherer::builder(checker)
        .source("list", || async { serde_json::json!([1, 2]) })
        .build()
        .unwrap()
        .gather()
        .await;
    assert_eq!(vitals.health.status, HealthStatus::Healthy);
    assert_eq!(
        vitals.source("list"),
        Some(&Source::Failed(
            "returned an array instead of a JSON object".into()
        ))
    );
    assert!(matches!(vitals.requests, Source::Off));
}
