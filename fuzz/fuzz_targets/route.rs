//! Routing: any method, target and header bytes through HealthLayer and MetricsLayer (whose
//! collector labels requests by the header's value, lean on every other input). Every
//! request gets a response with a known status, and health answers are what the path asks for
//! (the layer's endpoints, by its own table; any other segment below `/health` is a component:
//! 404 unless a check has that name).
#![no_main]

mod support;

use std::convert::Infallible;

use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use libfuzzer_sys::fuzz_target;
use tower::{Layer, ServiceExt, service_fn};
use tower_vitals::health::DetailPolicy;
use tower_vitals::{HealthChecker, HealthLayer, MetricsCollector, MetricsLayer};

fuzz_target!(|data: &[u8]| {
    // method \0 target \0 header-name \0 header-value
    let mut parts = data.splitn(4, |b| *b == 0);
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return;
    };
    let mut builder = Request::builder().method(method).uri(target);
    if let (Some(name), Some(value)) = (parts.next(), parts.next()) {
        builder = builder.header(name, value);
    }
    let Ok(request) = builder.body(()) else {
        return;
    };
    let path = request.uri().path().to_owned();
    let query = request.uri().query().is_some();
    let method = request.method().clone();

    let _guard = support::runtime().enter();
    let checker = HealthChecker::builder()
        .check("db", || async {})
        .build()
        .unwrap();
    let app = service_fn(|_request: Request<()>| async {
        Ok::<_, Infallible>(Response::new(String::from("app")))
    });
    // The request's header value labels it (bounded, escaped in every format); a lean
    // collector on every other input.
    let mut collector = MetricsCollector::builder().request_label("tenant", 4, |headers, _| {
        headers
            .iter()
            .next()
            .and_then(|(_, value)| value.to_str().ok())
    });
    if data.len() % 2 == 1 {
        collector = collector.lean();
    }
    let collector = collector.build().unwrap();
    let layer = HealthLayer::new(checker)
        .metrics(collector.clone())
        .details(DetailPolicy::Always);
    // The layer's own table says which paths are endpoints (history, incidents, the dashboard
    // and the OpenAPI document as well as the probes).
    let endpoints: Vec<String> = layer.paths().map(str::to_owned).collect();
    let service = layer.layer(MetricsLayer::new(collector).layer(app));
    let response = support::runtime()
        .block_on(service.oneshot(request))
        .unwrap();

    let trimmed = path
        .strip_suffix('/')
        .filter(|p| !p.is_empty())
        .unwrap_or(&path);
    let health = endpoints.iter().any(|endpoint| endpoint == trimmed);
    // One segment below /health names a component: the layer answers (404 for a name no
    // check has), when the segment decodes to UTF-8.
    let component = trimmed
        .strip_prefix("/health/")
        .filter(|segment| !health && !segment.is_empty() && !segment.contains('/'))
        .and_then(|segment| {
            percent_encoding::percent_decode_str(segment)
                .decode_utf8()
                .ok()
        });
    let status = response.status();
    if !health && component.is_none() {
        assert_eq!(status, StatusCode::OK, "{path}: the app answers");
        return;
    }
    match method.as_str() {
        "GET" | "HEAD" if component.as_deref().is_some_and(|name| name != "db") => {
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}: no such component");
        }
        // A query the endpoint cannot take (history's `since`, incidents' `limit`) is a 400.
        "GET" | "HEAD" => assert!(
            status == StatusCode::OK
                || status == StatusCode::SERVICE_UNAVAILABLE
                || (query && status == StatusCode::BAD_REQUEST),
            "{path}: {status}"
        ),
        _ => {
            assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
            assert_eq!(response.headers()["allow"], "GET, HEAD");
        }
    }
    // Reading the body ends the request's measurement.
    let _ = support::runtime().block_on(response.into_body().collect());
});
