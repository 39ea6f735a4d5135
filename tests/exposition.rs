//! `/metrics` and `/health/reliability` over a real Axum server. The expectations include route
//! labels and process figures, so these run with the default features.
#![cfg(all(feature = "axum", feature = "process"))]

mod common;
#[path = "support/exposition_tools.rs"]
mod exposition_tools;
#[path = "support/skip.rs"]
mod skip;

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use exposition_tools::{SCRAPE_ACCEPT, openmetrics_parser, promtool};
use reqwest::Method;
use tower_vitals::health::DetailPolicy;
use tower_vitals::report::{ReliabilityConfig, Rule, Severity};
use tower_vitals::{Check, HealthChecker, HealthLayer, MetricsCollector, MetricsLayer};

/// An app with a fast and a slow route, the metrics layer, and `health` in front.
async fn serve(
    checker: HealthChecker,
    collector: &MetricsCollector,
    health: HealthLayer,
) -> common::Server {
    drop(checker);
    let app = Router::new()
        .route("/fast/{id}", get(|| async { "fast" }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(150)).await;
                "slow"
            }),
        )
        .layer(health)
        .layer(MetricsLayer::new(collector.clone()));
    common::serve_router(app).await
}

fn odd_checker() -> HealthChecker {
    HealthChecker::builder()
        .check("db", || async {})
        .check("cache \"primary\" \\ east", || async {})
        .check("naïve-☃-検索", || async {})
        .build()
        .unwrap()
}

#[tokio::test]
async fn metrics_are_served_as_openmetrics_when_asked() {
    let checker = odd_checker();
    let collector = MetricsCollector::new();
    let health = HealthLayer::new(checker.clone()).metrics(collector.clone());
    let server = serve(checker, &collector, health).await;
    for id in 0..3 {
        server.get(&format!("/fast/{id}")).await;
    }

    let reply = server.get_accepting("/metrics", SCRAPE_ACCEPT).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type"),
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    assert_eq!(reply.header("vary"), "accept");
    let text = String::from_utf8(reply.body.clone()).unwrap();
    assert!(text.ends_with("\n# EOF\n"), "{text}");
    for line in [
        "# TYPE vitals_http_server_requests counter",
        "# TYPE vitals_health_check_runs counter",
        "# TYPE process_cpu_seconds counter",
        "# TYPE vitals_http_server_request_duration_seconds histogram",
        "# UNIT vitals_http_server_request_duration_seconds seconds",
        "# UNIT process_cpu_seconds seconds",
        "# UNIT process_resident_memory_bytes bytes",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
    assert!(text.contains(
        "vitals_http_server_requests_total{route=\"/fast/{id}\",method=\"GET\",status_class=\"2xx\"} 3\n"
    ));
    if let Some(families) = openmetrics_parser(&text) {
        for family in [
            "vitals_http_server_requests counter",
            "vitals_http_server_request_duration_seconds histogram",
            "vitals_health_component_status gauge",
        ] {
            assert!(
                families.iter().any(|f| f == family),
                "{family} in {families:?}"
            );
        }
    }
    // promtool's linter reads the text format only: OpenMetrics' counters (family `x`, samples
    // `x_total`) look to it like samples without HELP — its only remarks; anything else fails.
    if let Some((_, said)) = promtool(&text) {
        for line in said.lines() {
            assert!(
                line.ends_with("_total no help text"),
                "promtool: {line}\n{said}"
            );
        }
    }

    // Plain text for anyone else, the same families.
    let plain = server.get_accepting("/metrics", "text/plain").await;
    assert_eq!(
        plain.header("content-type"),
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert_eq!(plain.header("vary"), "accept");
    assert!(!String::from_utf8(plain.body).unwrap().contains("# EOF"));
}

/// With the `protobuf` feature and native histograms, Prometheus' protobuf `Accept` gets
/// length-delimited `MetricFamily` messages (what they hold is checked by the encoder's unit
/// tests and by a real Prometheus in `.ci/native-histograms.sh`); other clients the text.
#[cfg(feature = "protobuf")]
#[tokio::test]
async fn native_histograms_are_served_as_protobuf_when_asked() {
    const PROMETHEUS_NATIVE_ACCEPT: &str = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
    let checker = odd_checker();
    let collector = MetricsCollector::builder()
        .native_histograms()
        .build()
        .unwrap();
    let health = HealthLayer::new(checker.clone()).metrics(collector.clone());
    let server = serve(checker, &collector, health).await;
    for id in 0..3 {
        server.get(&format!("/fast/{id}")).await;
    }
    server.get("/slow").await;

    let reply = server
        .get_accepting("/metrics", PROMETHEUS_NATIVE_ACCEPT)
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type"),
        tower_vitals::render::PROTOBUF_CONTENT_TYPE
    );
    assert_eq!(reply.header("vary"), "accept");
    // Varint-length frames that exactly fill the body, each a family.
    let (mut body, mut frames) = (&reply.body[..], 0);
    while !body.is_empty() {
        let (mut len, mut shift) = (0usize, 0);
        loop {
            let byte = body[0];
            body = &body[1..];
            len |= usize::from(byte & 0x7f) << shift;
            shift += 7;
            if byte & 0x80 == 0 {
                break;
            }
        }
        assert!(len <= body.len(), "a frame past the end");
        body = &body[len..];
        frames += 1;
    }
    assert!(frames > 10, "{frames} families");
    let has = |text: &str| reply.body.windows(text.len()).any(|w| w == text.as_bytes());
    assert!(has("vitals_http_server_request_duration_seconds"));
    assert!(
        has("vitals_http_server_requests_total"),
        "counters keep `_total`"
    );
    assert!(has("cache \"primary\" \\ east"), "label values unescaped");

    let text = server.get_accepting("/metrics", SCRAPE_ACCEPT).await;
    assert!(
        text.header("content-type")
            .starts_with("application/openmetrics-text")
    );
}

/// Labels given for every sample are on every sample of both formats (the prefix changed
/// after them keeps them), and both tools accept the text.
#[tokio::test]
async fn constant_labels_are_on_every_sample() {
    let checker = odd_checker();
    let collector = MetricsCollector::new();
    let health = HealthLayer::new(checker.clone())
        .metrics(collector.clone())
        .prometheus_labels([("service", "orders"), ("region", "eu \"west\"")])
        .unwrap()
        .prometheus_prefix("shop_")
        .unwrap();
    let server = serve(checker, &collector, health).await;
    server.get("/fast/1").await;
    let constant = r#"service="orders",region="eu \"west\"""#;
    for accept in ["text/plain", SCRAPE_ACCEPT] {
        let text = String::from_utf8(server.get_accepting("/metrics", accept).await.body).unwrap();
        let samples: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert!(samples.len() > 40, "{text}");
        for sample in &samples {
            let (_, labels) = sample
                .split_once('{')
                .unwrap_or_else(|| panic!("no labels: {sample}"));
            assert!(labels.starts_with(constant), "{sample}");
        }
        assert!(text.contains(&format!(
            "shop_http_server_requests_total{{{constant},route=\"/fast/{{id}}\",method=\"GET\",status_class=\"2xx\"}} 1\n"
        )));
        assert!(text.contains(&format!("process_cpu_seconds_total{{{constant}}} ")));
        if accept == SCRAPE_ACCEPT {
            assert!(openmetrics_parser(&text).is_none_or(|families| !families.is_empty()));
        } else if let Some((passed, said)) = promtool(&text) {
            assert!(passed && said.trim().is_empty(), "promtool:\n{said}");
        }
    }
    let checker = odd_checker();
    for (name, why) in [
        ("route", "the exposition's own"),
        ("__meta", "reserved"),
        ("9th", "must match"),
    ] {
        let error = HealthLayer::new(checker.clone())
            .prometheus_labels([(name, "x")])
            .unwrap_err()
            .to_string();
        assert!(error.contains(name) && error.contains(why), "{error}");
    }
    let twice = HealthLayer::new(checker).prometheus_labels([("a", "1"), ("a", "2")]);
    assert!(twice.unwrap_err().to_string().contains("given twice"));
}

/// With OpenTelemetry's names, the request histogram is `http_server_request_duration_seconds`
/// labelled as the HTTP semantic conventions say, and both tools accept the text.
#[tokio::test]
async fn requests_can_be_named_as_opentelemetrys_conventions_say() {
    let checker = odd_checker();
    let collector = MetricsCollector::builder().status_codes(8).build().unwrap();
    let app = Router::new()
        .route("/fast/{id}", get(|| async { "fast" }))
        .route(
            "/down",
            get(|| async { axum::http::StatusCode::SERVICE_UNAVAILABLE }),
        )
        .layer(MetricsLayer::new(collector.clone()));
    let health = HealthLayer::new(checker)
        .metrics(collector.clone())
        .prometheus_opentelemetry_names("https")
        .unwrap();
    let server = common::serve_router(Router::new().fallback_service(health.around(app))).await;
    server.get("/fast/1").await;
    server.get("/fast/2").await;
    server.get("/down").await;
    server.get("/nowhere").await;
    let purge = Method::from_bytes(b"PURGE").unwrap();
    assert_eq!(server.send(purge, "/fast/3").await.status, 405);

    let text = String::from_utf8(server.get("/metrics").await.body).unwrap();
    let count = "http_server_request_duration_seconds_count";
    for line in [
        format!(
            r#"{count}{{http_request_method="GET",http_route="/fast/{{id}}",http_response_status_code="200",url_scheme="https"}} 2"#
        ),
        format!(
            r#"{count}{{http_request_method="GET",http_route="/down",http_response_status_code="503",url_scheme="https",error_type="503"}} 1"#
        ),
        format!(
            r#"{count}{{http_request_method="GET",http_response_status_code="404",url_scheme="https"}} 1"#
        ),
        format!(
            r#"{count}{{http_request_method="_OTHER",http_route="/fast/{{id}}",http_response_status_code="405",url_scheme="https"}} 1"#
        ),
        r#"http_server_active_requests{url_scheme="https"} 0"#.to_owned(),
        "# TYPE http_server_request_duration_seconds histogram".to_owned(),
    ] {
        assert!(text.lines().any(|l| l == line), "no {line} in\n{text}");
    }
    for gone in [
        "vitals_http_server_request_duration_seconds",
        "vitals_http_server_requests_total",
    ] {
        assert!(!text.contains(gone), "{gone} in\n{text}");
    }
    assert!(
        text.contains("vitals_health_status{"),
        "the other families keep their names"
    );
    if let Some((passed, said)) = promtool(&text) {
        assert!(passed && said.trim().is_empty(), "promtool:\n{said}");
    }
    let openmetrics =
        String::from_utf8(server.get_accepting("/metrics", SCRAPE_ACCEPT).await.body).unwrap();
    if let Some(families) = openmetrics_parser(&openmetrics) {
        for family in [
            "http_server_request_duration_seconds histogram",
            "http_server_active_requests gauge",
        ] {
            assert!(
                families.iter().any(|f| f == family),
                "{family} in {families:?}"
            );
        }
    }
}

/// A request carrying a sampled W3C `traceparent` leaves its trace as the exemplar of the
/// bucket it fell in, shown in OpenMetrics only; an unsampled one, or one without, leaves none.
#[tokio::test]
async fn traced_requests_leave_exemplars_in_openmetrics() {
    let checker = odd_checker();
    let collector = MetricsCollector::new();
    let health = HealthLayer::new(checker.clone()).metrics(collector.clone());
    let server = serve(checker, &collector, health).await;
    let traced = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let unsampled = "00-11111111111111111111111111111111-2222222222222222-00";
    for (path, traceparent) in [
        ("/slow", Some(traced)),
        ("/fast/1", Some(unsampled)),
        ("/fast/2", None),
    ] {
        let mut request = server.client.get(server.url(path));
        if let Some(traceparent) = traceparent {
            request = request.header("traceparent", traceparent);
        }
        assert_eq!(request.send().await.unwrap().status(), 200);
    }

    let text =
        String::from_utf8(server.get_accepting("/metrics", SCRAPE_ACCEPT).await.body).unwrap();
    let with_exemplar: Vec<&str> = text.lines().filter(|l| l.contains(" # {")).collect();
    assert_eq!(with_exemplar.len(), 1, "{text}");
    let line = with_exemplar[0];
    // /slow sleeps 150 ms: its bucket is le="0.25".
    assert!(
        line.starts_with("vitals_http_server_request_duration_seconds_bucket{route=\"/slow\",method=\"GET\",status_class=\"2xx\",le=\"0.25\"} 1 # {trace_id=\"0af7651916cd43dd8448eb211c80319c\",span_id=\"b7ad6b7169203331\"} 0.1"),
        "{line}"
    );
    assert!(!text.contains("11111111111111111111111111111111"));
    if let Some(families) = openmetrics_parser(&text) {
        assert!(
            families
                .iter()
                .any(|f| f == "vitals_http_server_request_duration_seconds histogram")
        );
    }
    let plain = String::from_utf8(server.get("/metrics").await.body).unwrap();
    assert!(!plain.contains("trace_id"), "no exemplars in text 0.0.4");
}

#[tokio::test]
async fn metrics_are_served_in_the_text_format_promtool_accepts() {
    let checker = odd_checker();
    let collector = MetricsCollector::new();
    let health = HealthLayer::new(checker.clone()).metrics(collector.clone());
    let server = serve(checker, &collector, health).await;
    for id in 0..5 {
        server.get(&format!("/fast/{id}")).await;
    }
    server.get("/nope").await;

    let reply = server.get("/metrics").await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type"),
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert_eq!(reply.header("cache-control"), "no-store");
    let text = String::from_utf8(reply.body.clone()).unwrap();
    for line in [
        "# TYPE vitals_http_server_request_duration_seconds histogram",
        "# TYPE vitals_health_component_status gauge",
        "vitals_health_component_status{component=\"cache \\\"primary\\\" \\\\ east\",state=\"healthy\"} 1",
        "vitals_health_component_status{component=\"naïve-☃-検索\",state=\"unhealthy\"} 0",
        "vitals_health_status{state=\"healthy\"} 1",
        "vitals_http_server_requests_in_flight 0",
        "# TYPE process_resident_memory_bytes gauge",
        "# TYPE vitals_http_server_time_to_headers_window_seconds summary",
        "# TYPE vitals_runtime_workers gauge",
        "# TYPE vitals_runtime_alive_tasks gauge",
        "# TYPE vitals_runtime_scheduling_lag_seconds gauge",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
    if cfg!(feature = "axum") {
        assert!(text.contains(
            "vitals_http_server_requests_total{route=\"/fast/{id}\",method=\"GET\",status_class=\"2xx\"} 5\n"
        ));
    }
    assert!(
        !text.contains("route=\"/metrics\""),
        "the scrape itself is not counted"
    );
    // Six requests in the window: a time to headers, in seconds, below a second.
    let p95 = text
        .lines()
        .find_map(|l| {
            l.strip_prefix("vitals_http_server_time_to_headers_window_seconds{quantile=\"0.95\"} ")
        })
        .unwrap();
    let p95: f64 = p95.parse().unwrap();
    assert!(p95 > 0.0 && p95 < 1.0, "{p95}");
    let workers = text
        .lines()
        .find_map(|l| l.strip_prefix("vitals_runtime_workers "))
        .unwrap();
    assert!(workers.parse::<u32>().unwrap() >= 1);
    if let Some((passed, said)) = promtool(&text) {
        assert!(
            passed && said.trim().is_empty(),
            "promtool has remarks:\n{said}"
        );
    }

    let head = server.send(Method::HEAD, "/metrics").await;
    assert!(head.body.is_empty());
    assert_eq!(server.send(Method::POST, "/metrics").await.status, 405);
}

#[tokio::test]
async fn the_exposition_can_move_be_renamed_or_be_turned_off() {
    let collector = MetricsCollector::new();
    let checker = odd_checker();
    let health = HealthLayer::new(checker.clone())
        .prometheus_path("/internal/prometheus")
        .unwrap()
        .prometheus_prefix("shop_")
        .unwrap();
    let server = serve(checker, &collector, health).await;
    let text = String::from_utf8(server.get("/internal/prometheus").await.body).unwrap();
    assert!(text.contains("\nshop_health_status{state=\"healthy\"} 1\n"));
    assert_eq!(server.get("/metrics").await.status, 404);

    let off = HealthLayer::new(odd_checker()).without_prometheus();
    assert!(off.paths().all(|p| p != "/metrics"));
    assert!(
        HealthLayer::new(odd_checker())
            .prometheus_prefix("9bad")
            .is_err()
    );
}

fn reliability_layer(checker: &HealthChecker, collector: &MetricsCollector) -> HealthLayer {
    let config = ReliabilityConfig::new()
        .cache_ttl(Duration::ZERO)
        .unwrap()
        .threshold("HIGH_P95_LATENCY", 100.0)
        .unwrap()
        .rule(Rule::above("ANY_CANCELLED", Severity::Info, 0.0, |o| {
            o.in_flight.map(|n| n as f64)
        }))
        .unwrap();
    HealthLayer::new(checker.clone())
        .details(DetailPolicy::Always)
        .metrics(collector.clone())
        .reliability(config)
}

/// `/metrics` shows the last report's anomalies as gauges, in both formats.
async fn the_anomaly_shows_on_metrics(server: &common::Server) {
    let metrics = String::from_utf8(server.get("/metrics").await.body).unwrap();
    assert!(
        metrics.contains(
            "vitals_reliability_anomalies{rule=\"HIGH_P95_LATENCY\",severity=\"warning\"} 1\n"
        ),
        "{metrics}"
    );
    if let Some((passed, said)) = promtool(&metrics) {
        assert!(passed && said.trim().is_empty(), "promtool:\n{said}");
    }
    let openmetrics = server.get_accepting("/metrics", SCRAPE_ACCEPT).await.body;
    if let Some(families) = openmetrics_parser(&String::from_utf8(openmetrics).unwrap()) {
        assert!(
            families
                .iter()
                .any(|f| f == "vitals_reliability_anomalies gauge")
        );
    }
}

#[tokio::test]
async fn a_slow_route_raises_a_p95_anomaly_and_degrades_the_report() {
    let checker = HealthChecker::builder()
        .check("db", || async {})
        .build()
        .unwrap();
    let collector = MetricsCollector::new();
    let server = serve(
        checker.clone(),
        &collector,
        reliability_layer(&checker, &collector),
    )
    .await;
    let quiet = server.get("/health/reliability").await;
    assert_eq!(quiet.status, 200);
    assert_eq!(quiet.header("x-reliability-version"), "1");
    assert_eq!(quiet.header("content-type"), "application/json");
    let quiet = quiet.json();
    assert_eq!(quiet["status"], "healthy");
    assert_eq!(quiet["anomalies"], serde_json::json!([]));

    // One of the slow requests is traced: the anomaly names its trace as evidence.
    let traced = "00-5b8aa5a2d2c872e8321cf37308d69df2-051581bf3cb55c13-01";
    for i in 0..4 {
        let mut request = server.client.get(server.url("/slow"));
        if i == 2 {
            request = request.header("traceparent", traced);
        }
        request.send().await.unwrap();
    }
    let report = server.get("/health/reliability").await;
    assert_eq!(report.status, 200, "degraded answers 200 by default");
    let report = report.json();
    assert_eq!(report["status"], "degraded");
    assert_eq!(report["checks_status"], "healthy");
    let anomaly = &report["anomalies"][0];
    assert_eq!(anomaly["rule"], "HIGH_P95_LATENCY");
    assert_eq!(anomaly["severity"], "warning");
    assert_eq!(anomaly["threshold"], 100.0);
    assert!(anomaly["observed"].as_f64().unwrap() >= 150.0, "{anomaly}");
    assert_eq!(anomaly["unit"], "ms");
    assert_eq!(
        anomaly["traces"],
        serde_json::json!(["5b8aa5a2d2c872e8321cf37308d69df2"])
    );
    the_anomaly_shows_on_metrics(&server).await;
    let notes = report["notes"].as_array().unwrap();
    assert!(
        notes
            .iter()
            .any(|n| n == "status raised from healthy to degraded by 1 anomaly"),
        "{notes:?}"
    );
    let requests = &report["metrics"]["requests"];
    assert_eq!(requests["window"]["requests"], 4);
    assert!(requests["window"]["latency_ms"]["p95"].as_f64().unwrap() >= 150.0);
    assert!(
        report["metrics"]["process"]["resident_memory_bytes"]
            .as_u64()
            .unwrap()
            > 0
            || cfg!(not(feature = "process"))
    );
    assert!(report["metrics"]["runtime"]["workers"].as_u64().unwrap() >= 1);
    assert!(report["generation_time_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(
        report["performance"]["requests"], 4,
        "the detailed report's sections are there"
    );
}

#[tokio::test]
async fn a_failing_check_makes_the_report_unhealthy_with_a_note() {
    let checker = HealthChecker::builder()
        .check("db", || async {})
        .register(
            Check::new("payments", || async { Err::<(), _>("connection refused") }).retries(0),
        )
        .build()
        .unwrap();
    let collector = MetricsCollector::new();
    let server = serve(
        checker.clone(),
        &collector,
        reliability_layer(&checker, &collector),
    )
    .await;
    let reply = server.get("/health/reliability").await;
    assert_eq!(reply.status, 503);
    let report = reply.json();
    assert_eq!(report["status"], "unhealthy");
    assert_eq!(report["components"][1]["status"], "unhealthy");
    let notes = report["notes"].as_array().unwrap();
    assert!(
        notes
            .iter()
            .any(|n| n == "payments is unhealthy: connection refused"),
        "{notes:?}"
    );
    assert_eq!(report["metrics"]["checks"][1]["failures"], 1);
}

#[tokio::test]
async fn reports_are_cached_for_the_ttl() {
    let checker = HealthChecker::builder()
        .check("db", || async {})
        .build()
        .unwrap();
    let collector = MetricsCollector::new();
    let health = HealthLayer::new(checker.clone())
        .details(DetailPolicy::Always)
        .metrics(collector.clone());
    let server = serve(checker, &collector, health).await;
    let first = server.get("/health/reliability").await.json();
    server.get("/fast/1").await;
    let second = server.get("/health/reliability").await.json();
    assert_eq!(
        first["timestamp"], second["timestamp"],
        "the same report within 30 s"
    );
    assert_eq!(second["metrics"]["requests"]["window"]["requests"], 0);
}

#[tokio::test]
async fn without_metrics_the_report_says_so_and_still_answers() {
    let checker = HealthChecker::builder()
        .check("db", || async {})
        .build()
        .unwrap();
    let server = serve(
        checker.clone(),
        &MetricsCollector::new(),
        HealthLayer::new(checker).details(DetailPolicy::Always),
    )
    .await;
    let report = server.get("/health/reliability").await.json();
    assert_eq!(report["status"], "healthy");
    assert_eq!(report["metrics"]["requests"], serde_json::Value::Null);
    let notes = report["notes"].as_array().unwrap();
    assert!(
        notes
            .iter()
            .any(|n| n.as_str().unwrap().starts_with("request figures are off"))
    );
}

#[tokio::test]
async fn the_report_schema_is_stable() {
    let checker = HealthChecker::builder()
        .check("db", || async {})
        .register(
            Check::new("search", || async { Err::<(), _>("index missing") })
                .critical(false)
                .retries(0),
        )
        .build()
        .unwrap();
    let collector = MetricsCollector::new();
    collector.cache_hits(3);
    let server = serve(
        checker.clone(),
        &collector,
        reliability_layer(&checker, &collector),
    )
    .await;
    server.get("/fast/1").await;
    let mut report = server.get("/health/reliability").await.json();
    // Values that change from run to run become their type; keys and the rest stay as they are.
    redact(
        &mut report,
        "",
        &[
            (".timestamp", "[timestamp]"),
            (".duration_ms", "[number|null]"),
            (".generation_time_ms", "[number|null]"),
            (".components.[].response_time_ms", "[number|null]"),
            (".components.[].checked_at", "[timestamp|null]"),
            (".components.[].age_ms", "[number|null]"),
            (".components.[].since", "[timestamp|null]"),
            (".components.[].reason", "[string|null]"),
            (".components.[].history.avg_duration_ms", "[number|null]"),
            (".performance.*", "[number|null]"),
            (".metrics.requests.uptime_seconds", "[number|null]"),
            (".metrics.requests.window.span_seconds", "[number|null]"),
            (".metrics.requests.window.request_rate", "[number|null]"),
            (".metrics.requests.window.latency_ms.*", "[number|null]"),
            (
                ".metrics.requests.window.time_to_headers_ms.*",
                "[number|null]",
            ),
            (
                ".metrics.requests.totals.latency_sum_seconds",
                "[number|null]",
            ),
            (
                ".metrics.requests.routes.[].avg_latency_ms",
                "[number|null]",
            ),
            (".metrics.process.*", "[number|null]"),
            (".metrics.runtime.*", "[number|null]"),
            (".metrics.checks.[].last_duration_ms", "[number|null]"),
            (".notes", "[array of strings]"),
        ],
    );
    insta::assert_json_snapshot!("reliability_report", report);
}

/// Replaces the values at volatile paths (`*` any key, `[]` any element) by what they hold.
fn redact(value: &mut serde_json::Value, path: &str, volatile: &[(&str, &str)]) {
    use serde_json::Value;
    let matches = |pattern: &str| {
        let (mut p, mut q) = (pattern.split('.'), path.split('.'));
        loop {
            match (p.next(), q.next()) {
                (None, None) => return true,
                (Some(a), Some(b)) if a == b || a == "*" => {}
                _ => return false,
            }
        }
    };
    if let Some((_, kind)) = volatile.iter().find(|(pattern, _)| matches(pattern)) {
        *value = Value::String((*kind).to_owned());
        return;
    }
    match value {
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                redact(value, &format!("{path}.{key}"), volatile);
            }
        }
        Value::Array(items) => {
            for item in items {
                redact(item, &format!("{path}.[]"), volatile);
            }
        }
        _ => {}
    }
}

/// The lean preset: the request histogram and counts in both formats, valid for promtool and
/// Python's parser; no window summaries, no time to headers, no in-flight gauge, and no
/// exemplar though every request carries a sampled `traceparent`.
#[tokio::test]
async fn a_lean_collector_serves_counts_and_one_histogram() {
    let checker = odd_checker();
    let collector = MetricsCollector::builder().lean().build().unwrap();
    let health = HealthLayer::new(checker.clone()).metrics(collector.clone());
    let app = Router::new()
        .route("/fast/{id}", get(|| async { "fast" }))
        .route(
            "/boom",
            get(|| async { (http::StatusCode::BAD_GATEWAY, "boom") }),
        )
        .layer(health)
        .layer(MetricsLayer::new(collector.clone()).for_axum());
    let server = common::serve_router(app).await;
    let traced = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    for path in ["/fast/1", "/fast/2", "/boom"] {
        server.get_with(path, "traceparent", traced).await;
    }
    let snapshot = collector.snapshot();
    assert_eq!(snapshot.preset, tower_vitals::metrics::Preset::Lean);
    assert_eq!((snapshot.totals.requests, snapshot.totals.failures), (3, 1));
    assert_eq!(snapshot.in_flight, 0);
    assert_eq!(snapshot.window.count, 3, "the window keeps its counts");
    assert_eq!(snapshot.window.latency.count, 0, "but no percentiles");
    assert_eq!(snapshot.window.time_to_headers.count, 0);

    let text = String::from_utf8(server.get("/metrics").await.body).unwrap();
    let openmetrics = server.get_accepting("/metrics", SCRAPE_ACCEPT).await;
    let openmetrics = String::from_utf8(openmetrics.body).unwrap();
    for exposition in [&text, &openmetrics] {
        assert!(exposition.contains(
            "vitals_http_server_request_duration_seconds_count{route=\"/fast/{id}\",method=\"GET\",status_class=\"2xx\"} 2\n"
        ), "{exposition}");
        assert!(exposition.contains(
            "vitals_http_server_request_failures_total{route=\"/boom\",method=\"GET\",status_class=\"5xx\"} 1\n"
        ), "{exposition}");
        for left_out in [
            "_window_seconds",
            "time_to_headers",
            "in_flight",
            "trace_id",
        ] {
            assert!(!exposition.contains(left_out), "{left_out} in {exposition}");
        }
    }
    if let Some((passed, said)) = promtool(&text) {
        assert!(passed, "promtool: {said}");
    }
    if let Some(families) = openmetrics_parser(&openmetrics) {
        assert!(
            families
                .iter()
                .any(|f| f == "vitals_http_server_request_duration_seconds histogram")
        );
    }
}
