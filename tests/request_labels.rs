//! A label read from each request (`MetricsCollectorBuilder::request_label`), bounded, over a
//! real server: the first values get series of their own, later ones `other`, requests without
//! one `none`; the overflow and the values held are on `/metrics`; with exact status codes,
//! constant labels (a clash renamed `exported_…`) and route groups; in text 0.0.4 (promtool),
//! OpenMetrics (Python's parser), protobuf, the JSON report and the OpenTelemetry bridge (the
//! SDK's in-memory exporter).
#![cfg(feature = "axum")]

mod common;
#[path = "support/exposition_tools.rs"]
mod exposition_tools;
#[path = "support/skip.rs"]
mod skip;

use std::collections::{BTreeMap, BTreeSet};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use exposition_tools::{SCRAPE_ACCEPT, openmetrics_parser, promtool};
use tower_vitals::health::DetailPolicy;
use tower_vitals::metrics::{MetricsCollector, MetricsCollectorBuilder, MetricsLayer};
use tower_vitals::{HealthChecker, HealthLayer};

/// The collector's settings: `tenant` from `x-tenant`, four values, exact codes.
fn tenant_label(builder: MetricsCollectorBuilder) -> MetricsCollectorBuilder {
    builder
        .request_label("tenant", 4, |headers, _| {
            headers.get("x-tenant")?.to_str().ok()
        })
        .status_codes(8)
        .max_series(512)
}

async fn serve(collector: &MetricsCollector, health: HealthLayer) -> common::Server {
    let app = Router::new()
        .route("/orders", get(|| async { "orders" }))
        .route(
            "/orders/{id}",
            get(|| async { (StatusCode::NOT_FOUND, "no such order") }),
        )
        .route("/static/{*file}", get(|| async { "file" }))
        .layer(health)
        .layer(
            MetricsLayer::new(collector.clone())
                .group_prefix("/static")
                .unwrap(),
        );
    common::serve_router(app).await
}

/// Sends 300 requests: tenants `t0`…`t9` in turn on `/orders`, every seventh to an order (404)
/// and every eleventh to a static file, every thirteenth without a tenant. The requests per
/// tenant, `none` for those without. Returns once the collector has recorded them all (a
/// request is recorded when the server has sent its body's end, which the client may see first).
async fn send(server: &common::Server, collector: &MetricsCollector) -> BTreeMap<String, u64> {
    let mut sent = BTreeMap::new();
    for i in 0..300u64 {
        let path = match i {
            i if i % 7 == 0 => format!("/orders/{i}"),
            i if i % 11 == 0 => format!("/static/app-{i}.js"),
            _ => "/orders".to_owned(),
        };
        let mut request = server.client.get(server.url(&path));
        let tenant = if i % 13 == 0 {
            "none".to_owned()
        } else {
            let tenant = format!("t{}", i % 10);
            request = request.header("x-tenant", &tenant);
            tenant
        };
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        assert!(status == 200 || status == 404, "{path}: {status}");
        response.bytes().await.unwrap();
        *sent.entry(tenant).or_insert(0) += 1;
    }
    let started = std::time::Instant::now();
    while collector.in_flight() > 0 && started.elapsed() < std::time::Duration::from_secs(5) {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    sent
}

/// `name{…}` samples of a text exposition: labels → value.
fn samples(text: &str, name: &str) -> Vec<(BTreeMap<String, String>, f64)> {
    text.lines()
        .filter(|line| line.starts_with(&format!("{name}{{")))
        .map(|line| {
            let line = line.split(" # ").next().unwrap();
            let (series, value) = line.rsplit_once(' ').unwrap();
            let body = &series[name.len() + 1..series.len() - 1];
            let labels = body
                .split("\",")
                .map(|pair| {
                    let (key, value) = pair.split_once("=\"").unwrap();
                    (key.to_owned(), value.trim_end_matches('"').to_owned())
                })
                .collect();
            (labels, value.parse().unwrap())
        })
        .collect()
}

/// Requests per value of `label` in `vitals_http_server_requests_total`.
fn per_value(text: &str, label: &str) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for (labels, value) in samples(text, "vitals_http_server_requests_total") {
        let value_of = labels
            .get(label)
            .unwrap_or_else(|| panic!("{label} on {labels:?}"));
        *counts.entry(value_of.clone()).or_insert(0) += value as u64;
    }
    counts
}

/// What the first four tenants seen sent (`t1`…`t4`: request 0 has no tenant, `t0` comes
/// tenth), the rest summed as `other`, `none` as it was.
fn bounded(sent: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    let mut expected = BTreeMap::new();
    for (tenant, count) in sent {
        let value = match tenant.as_str() {
            "t1" | "t2" | "t3" | "t4" | "none" => tenant.clone(),
            _ => "other".to_owned(),
        };
        *expected.entry(value).or_insert(0) += count;
    }
    expected
}

#[tokio::test]
async fn the_first_values_own_series_later_ones_are_other_in_every_format() {
    let checker = HealthChecker::builder().build().unwrap();
    let collector = tenant_label(MetricsCollector::builder()).build().unwrap();
    let health = HealthLayer::new(checker)
        .metrics(collector.clone())
        .details(DetailPolicy::Always)
        .prometheus_labels([("service", "shop")])
        .unwrap();
    let server = serve(&collector, health).await;
    let sent = send(&server, &collector).await;
    let expected = bounded(&sent);
    assert_eq!(
        expected.keys().collect::<Vec<_>>(),
        ["none", "other", "t1", "t2", "t3", "t4"]
    );

    let text =
        String::from_utf8(server.get_accepting("/metrics", "text/plain").await.body).unwrap();
    assert_eq!(per_value(&text, "tenant"), expected, "{text}");
    // Every other label control still applies: exact codes, groups, constant labels.
    let series = samples(&text, "vitals_http_server_requests_total");
    let find = |route: &str, code: &str, tenant: &str| {
        series.iter().any(|(labels, _)| {
            labels["route"] == route
                && labels["status_code"] == code
                && labels["tenant"] == tenant
                && labels["service"] == "shop"
        })
    };
    assert!(find("/orders", "200", "t1"));
    assert!(find("/orders/{id}", "404", "t4"), "{text}");
    assert!(find("/static/*", "200", "other"), "{text}");
    let overflow = samples(&text, "vitals_http_server_request_label_overflow_total");
    assert_eq!(overflow.len(), 1);
    assert_eq!(overflow[0].0["label"], "tenant");
    assert_eq!(overflow[0].1 as u64, expected["other"]);
    let held = samples(&text, "vitals_http_server_request_label_values");
    assert_eq!(held[0].1, 4.0);
    // The histogram carries the label too, one set of buckets per value.
    let counts = samples(&text, "vitals_http_server_request_duration_seconds_count");
    let total: f64 = counts.iter().map(|(_, v)| v).sum();
    assert_eq!(total as u64, sent.values().sum::<u64>());
    assert!(
        counts
            .iter()
            .all(|(labels, _)| labels.contains_key("tenant"))
    );
    if let Some((passed, said)) = promtool(&text) {
        assert!(passed, "promtool: {said}\n{text}");
    }

    let openmetrics =
        String::from_utf8(server.get_accepting("/metrics", SCRAPE_ACCEPT).await.body).unwrap();
    assert_eq!(per_value(&openmetrics, "tenant"), expected);
    if let Some(families) = openmetrics_parser(&openmetrics) {
        assert!(
            families
                .iter()
                .any(|f| f == "vitals_http_server_request_label_overflow counter"),
            "{families:?}"
        );
    }

    #[cfg(feature = "protobuf")]
    {
        const PROTOBUF: &str = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited";
        let reply = server.get_accepting("/metrics", PROTOBUF).await;
        assert_eq!(
            reply.header("content-type"),
            tower_vitals::render::PROTOBUF_CONTENT_TYPE
        );
        let has = |text: &str| reply.body.windows(text.len()).any(|w| w == text.as_bytes());
        assert!(has("vitals_http_server_request_label_overflow_total"));
        assert!(has("tenant") && has("t4") && has("other"));
        assert!(
            !has("\"t0\"") && !has("t5"),
            "a value past the bound is not kept"
        );
    }

    // The JSON report lists each series with its value.
    let json = server.get("/health/reliability").await.json();
    let routes = json["metrics"]["requests"]["routes"]
        .as_array()
        .unwrap_or_else(|| panic!("{json:#}"));
    let mut by_value = BTreeMap::new();
    for route in routes {
        assert_eq!(route["label"]["name"], "tenant");
        let value = route["label"]["value"].as_str().unwrap().to_owned();
        *by_value.entry(value).or_insert(0) += route["requests"].as_u64().unwrap();
    }
    assert_eq!(by_value, expected);
    let snapshot = collector.snapshot();
    let label = snapshot.request_label.as_ref().unwrap();
    assert_eq!((label.values, label.max_values), (4, 4));
    assert_eq!(label.overflow, expected["other"]);
    let values: BTreeSet<&str> = snapshot
        .series
        .iter()
        .map(|s| s.label.as_deref().unwrap())
        .collect();
    assert_eq!(values.len(), 6, "{values:?}");
    assert!(!text.contains("\"t0\"") && !text.contains("\"t9\""));
}

/// A constant label with the same name as the request label: the request label is written
/// `exported_tenant`, as Prometheus renames a scraped label that clashes with a target label.
#[tokio::test]
async fn a_constant_label_of_the_same_name_renames_the_request_label() {
    let checker = HealthChecker::builder().build().unwrap();
    let collector = tenant_label(MetricsCollector::builder()).build().unwrap();
    let health = HealthLayer::new(checker)
        .metrics(collector.clone())
        .prometheus_labels([("tenant", "eu")])
        .unwrap();
    let server = serve(&collector, health).await;
    let sent = send(&server, &collector).await;
    let text =
        String::from_utf8(server.get_accepting("/metrics", "text/plain").await.body).unwrap();
    assert_eq!(per_value(&text, "exported_tenant"), bounded(&sent));
    for (labels, _) in samples(&text, "vitals_http_server_requests_total") {
        assert_eq!(labels["tenant"], "eu");
    }
    if let Some((passed, said)) = promtool(&text) {
        assert!(passed, "promtool: {said}\n{text}");
    }
}

/// The OpenTelemetry bridge gives `http.server.request.duration` the same attribute with the
/// same bounded values; the semantic-convention exposition carries it as a label.
#[cfg(feature = "opentelemetry")]
#[tokio::test]
async fn the_opentelemetry_bridge_carries_the_bounded_value() {
    use opentelemetry::metrics::MeterProvider as _;
    use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
    use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};

    let exporter = InMemoryMetricExporter::default();
    let provider = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(exporter.clone()).build())
        .build();
    let collector = tenant_label(MetricsCollector::builder())
        .opentelemetry(&provider.meter("shop"), "http")
        .build()
        .unwrap();
    let checker = HealthChecker::builder().build().unwrap();
    let health = HealthLayer::new(checker)
        .metrics(collector.clone())
        .prometheus_opentelemetry_names("http")
        .unwrap();
    let server = serve(&collector, health).await;
    let sent = send(&server, &collector).await;
    provider.force_flush().unwrap();
    let exported = exporter.get_finished_metrics().unwrap();
    let last = exported.last().unwrap();
    let duration = last
        .scope_metrics()
        .flat_map(|scope| scope.metrics())
        .find(|metric| metric.name() == "http.server.request.duration")
        .unwrap();
    let AggregatedMetrics::F64(MetricData::Histogram(histogram)) = duration.data() else {
        panic!("a histogram");
    };
    let mut counts = BTreeMap::new();
    for point in histogram.data_points() {
        let tenant = point
            .attributes()
            .find(|kv| kv.key.as_str() == "tenant")
            .map(|kv| kv.value.to_string())
            .expect("every point has the tenant");
        *counts.entry(tenant).or_insert(0) += point.count();
    }
    assert_eq!(counts, bounded(&sent));

    let text =
        String::from_utf8(server.get_accepting("/metrics", "text/plain").await.body).unwrap();
    let mut by_value = BTreeMap::new();
    for (labels, value) in samples(&text, "http_server_request_duration_seconds_count") {
        *by_value.entry(labels["tenant"].clone()).or_insert(0) += value as u64;
    }
    assert_eq!(by_value, bounded(&sent), "{text}");
    if let Some((passed, said)) = promtool(&text) {
        assert!(passed, "promtool: {said}\n{text}");
    }
}

#[test]
fn a_bad_label_is_refused_with_its_name() {
    let refused = |name: &str, max| {
        MetricsCollector::builder()
            .request_label(name, max, |_, _| None)
            .build()
            .unwrap_err()
            .to_string()
    };
    assert!(refused("route", 4).contains("\"route\""));
    assert!(refused("tenant-id", 4).contains("[a-zA-Z_]"));
    assert!(refused("tenant", 0).contains("request label values"));
}

/// The value set by an authentication layer outside the metrics layer, read from the request's
/// extensions: any text, escaped as each format asks (quotes, backslashes, a newline,
/// non-ASCII); longer than `MAX_VALUE_LEN` is `other`.
#[tokio::test]
async fn a_value_an_authentication_layer_set_is_read_from_the_extensions() {
    #[derive(Clone)]
    struct Tenant(String);

    let collector = MetricsCollector::builder()
        .request_label("tenant", 8, |_, extensions| {
            extensions.get::<Tenant>().map(|tenant| tenant.0.as_str())
        })
        .build()
        .unwrap();
    let checker = HealthChecker::builder().build().unwrap();
    let health = HealthLayer::new(checker).metrics(collector.clone());
    // What an authentication layer does: the tenant of the caller's key, as an extension.
    let authenticate = axum::middleware::from_fn(
        |mut request: axum::extract::Request, next: axum::middleware::Next| async move {
            let key = request
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let tenant = match key {
                "Bearer k1" => Some("a \"quoted\" \\ tenant\nwith a newline".to_owned()),
                "Bearer k2" => Some("naïve-☃-検索".to_owned()),
                "Bearer k3" => Some("x".repeat(tower_vitals::metrics::MAX_VALUE_LEN + 1)),
                _ => None,
            };
            if let Some(tenant) = tenant {
                request.extensions_mut().insert(Tenant(tenant));
            }
            next.run(request).await
        },
    );
    let app = Router::new()
        .route("/orders", get(|| async { "orders" }))
        .layer(health)
        .layer(MetricsLayer::new(collector.clone()))
        .layer(authenticate);
    let server = common::serve_router(app).await;
    for key in ["k1", "k2", "k1", "k3", "none"] {
        let response = server
            .client
            .get(server.url("/orders"))
            .header("authorization", format!("Bearer {key}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.bytes().await.unwrap();
    }
    let started = std::time::Instant::now();
    while collector.in_flight() > 0 && started.elapsed() < std::time::Duration::from_secs(5) {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let snapshot = collector.snapshot();
    let mut values: Vec<(String, u64)> = snapshot
        .series
        .iter()
        .map(|s| (s.label.as_deref().unwrap().to_owned(), s.count))
        .collect();
    values.sort();
    assert_eq!(
        values,
        [
            ("a \"quoted\" \\ tenant\nwith a newline".to_owned(), 2),
            ("naïve-☃-検索".to_owned(), 1),
            ("none".to_owned(), 1),
            ("other".to_owned(), 1),
        ]
    );
    let text =
        String::from_utf8(server.get_accepting("/metrics", "text/plain").await.body).unwrap();
    assert!(
        text.contains(r#"tenant="a \"quoted\" \\ tenant\nwith a newline"} 2"#),
        "{text}"
    );
    assert!(text.contains(r#"tenant="naïve-☃-検索"} 1"#));
    if let Some((passed, said)) = promtool(&text) {
        assert!(passed, "promtool: {said}\n{text}");
    }
    let openmetrics =
        String::from_utf8(server.get_accepting("/metrics", SCRAPE_ACCEPT).await.body).unwrap();
    if let Some(families) = openmetrics_parser(&openmetrics) {
        assert!(!families.is_empty());
    }
}
