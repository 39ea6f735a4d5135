//! `deploy/`: the Prometheus rules and the Grafana dashboard name only series the crate (or
//! the rules themselves) produce, and the dashboard's queries are valid PromQL (promtool).
#![cfg(all(feature = "axum", feature = "process"))]

mod common;
#[path = "support/skip.rs"]
mod skip;

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use tower_vitals::health::DetailPolicy;
use tower_vitals::report::ReliabilityConfig;
use tower_vitals::{HealthChecker, HealthLayer, MetricsCollector, MetricsLayer};

const RULES: &str = include_str!("../deploy/prometheus/rules.yml");
const DASHBOARD: &str = include_str!("../deploy/grafana/tower-vitals.json");

/// Every `vitals_…` metric name in `text` (not the `job:vitals_…` recording rules).
fn metric_names(text: &str) -> BTreeSet<String> {
    let bytes = text.as_bytes();
    let mut names = BTreeSet::new();
    let mut at = 0;
    while let Some(found) = text[at..].find("vitals_") {
        let start = at + found;
        let end = start
            + text[start..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(text.len() - start);
        let before = start.checked_sub(1).map(|i| bytes[i]);
        if !before.is_some_and(|b| b == b':' || b.is_ascii_alphanumeric() || b == b'_') {
            names.insert(text[start..end].to_owned());
        }
        at = end;
    }
    names
}

/// The dashboard's queries, with Grafana's variables filled in.
fn dashboard_queries() -> Vec<String> {
    let dashboard: serde_json::Value = serde_json::from_str(DASHBOARD).unwrap();
    dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|panel| panel["targets"].as_array().unwrap().clone())
        .map(|target| {
            target["expr"]
                .as_str()
                .unwrap()
                .replace("$job", "orders")
                .replace("$__rate_interval", "1m")
        })
        .collect()
}

#[tokio::test]
async fn every_series_the_rules_and_the_dashboard_read_is_one_the_crate_serves() {
    let checker = HealthChecker::builder()
        .check("db", || async {})
        .build()
        .unwrap();
    let collector = MetricsCollector::new();
    let app = axum::Router::new()
        .route("/", axum::routing::get(|| async { "home" }))
        .layer(MetricsLayer::new(collector.clone()));
    let health = HealthLayer::new(checker)
        .metrics(collector)
        .details(DetailPolicy::Always)
        .reliability(ReliabilityConfig::new());
    let server =
        common::serve_router(axum::Router::new().fallback_service(health.around(app))).await;
    server.get("/").await;
    // The first scrape starts a reliability report behind it; the next shows its anomalies.
    server.get("/metrics").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let exposition = String::from_utf8(server.get("/metrics").await.body).unwrap();
    let families: BTreeSet<&str> = exposition
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|line| line.split(' ').next())
        .collect();
    let referenced: BTreeSet<String> = metric_names(RULES)
        .into_iter()
        .chain(dashboard_queries().iter().flat_map(|q| metric_names(q)))
        .collect();
    assert!(referenced.len() >= 8, "{referenced:?}");
    for name in &referenced {
        let family = ["_bucket", "_count", "_sum"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix).filter(|f| families.contains(f)))
            .unwrap_or(name);
        assert!(
            families.contains(family),
            "{name} is not served; families: {families:?}"
        );
    }
}

#[test]
fn the_dashboards_queries_are_valid_promql() {
    let dashboard: serde_json::Value = serde_json::from_str(DASHBOARD).unwrap();
    assert_eq!(dashboard["uid"], "tower-vitals");
    let queries = dashboard_queries();
    assert!(queries.len() >= 10);
    // promtool checks PromQL in rule files: each query as a recording rule.
    let rules: String = queries
        .iter()
        .enumerate()
        .map(|(i, query)| format!("      - record: dashboard:query{i}\n        expr: {query:?}\n"))
        .collect();
    let file =
        std::env::temp_dir().join(format!("tower-vitals-dashboard-{}.yml", std::process::id()));
    std::fs::write(
        &file,
        format!("groups:\n  - name: dashboard\n    rules:\n{rules}"),
    )
    .unwrap();
    let output = Command::new("promtool")
        .arg("check")
        .arg("rules")
        .arg(&file)
        .output();
    let _ = std::fs::remove_file(&file);
    match output {
        Ok(output) => assert!(
            output.status.success(),
            "promtool:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
        Err(error) => skip::unavailable("promtool", "REQUIRE_PROMTOOL", &error.to_string()),
    }
}
