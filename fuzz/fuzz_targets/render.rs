//! Rendering: any component names and route label through the Prometheus exposition and the
//! JSON report. Every line parses, and the names come back unchanged from both.
#![no_main]

mod support;

use std::time::Duration;

use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use libfuzzer_sys::fuzz_target;
use tower::{Layer, ServiceExt, service_fn};
use tower_vitals::health::DetailPolicy;
use tower_vitals::metrics::{Outcome, RequestRecord};
use tower_vitals::{HealthChecker, HealthLayer, MetricsCollector};

/// Unescapes a label value written between quotes, or `None` if it is malformed.
fn unescape(value: &str) -> Option<String> {
    let mut out = String::new();
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next()? {
                '\\' => out.push('\\'),
                '"' => out.push('"'),
                'n' => out.push('\n'),
                _ => return None,
            },
            '"' | '\n' => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut fields = text.split('\u{1}');
    let route = fields.next().unwrap_or_default().to_owned();
    let components: Vec<String> = fields.take(4).map(str::to_owned).collect();

    let _guard = support::runtime().enter();
    let builder = components.iter().fold(HealthChecker::builder(), |b, name| {
        b.check(name.clone(), || async {})
    });
    let Ok(checker) = builder.build() else { return }; // invalid or duplicate names are refused
    let collector = MetricsCollector::new();
    collector.record(&RequestRecord {
        route: Some(&route),
        method: &Method::GET,
        outcome: Outcome::status(StatusCode::OK),
        duration: Duration::from_millis(3),
        time_to_headers: None,
    });
    let app = service_fn(|_request: Request<()>| async {
        Ok::<_, std::convert::Infallible>(Response::new(String::new()))
    });
    let service = HealthLayer::new(checker)
        .metrics(collector)
        .details(DetailPolicy::Always)
        .layer(app);
    let get = |path: &'static str| {
        let service = service.clone();
        support::runtime().block_on(async move {
            let response = service
                .oneshot(Request::get(path).body(()).unwrap())
                .await
                .unwrap();
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            String::from_utf8(bytes.to_vec()).expect("UTF-8 output")
        })
    };

    let exposition = get("/metrics");
    let mut seen_components = Vec::new();
    let mut seen_routes = Vec::new();
    for line in exposition.lines() {
        if line.starts_with('#') {
            assert!(
                line.starts_with("# HELP ") || line.starts_with("# TYPE "),
                "{line}"
            );
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("a name and a value");
        assert!(
            value.parse::<f64>().is_ok() || ["+Inf", "-Inf", "NaN"].contains(&value),
            "{line}"
        );
        if let Some(labels) = series.strip_prefix("vitals_health_component_status{component=\"") {
            let (name, state) = labels
                .rsplit_once("\",state=\"")
                .expect("component and state");
            if state == "healthy\"}" {
                seen_components.push(unescape(name).expect("a well-escaped component"));
            }
        }
        if let Some(labels) = series.strip_prefix("vitals_http_server_requests_total{route=\"") {
            let (label, _) = labels
                .rsplit_once("\",method=\"")
                .expect("route and method");
            seen_routes.push(unescape(label).expect("a well-escaped route"));
        }
    }
    assert_eq!(seen_components, components);
    assert_eq!(seen_routes, [route.clone()]);

    let report: serde_json::Value = serde_json::from_str(&get("/health")).expect("JSON");
    let names: Vec<&str> = report["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, components);
});
