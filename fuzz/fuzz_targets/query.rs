//! The time endpoints' queries: any query string on `/health/history` and `/health/incidents`
//! (and `/health`'s `exclude`/`include`) through HealthLayer. Every answer is 200, 400 or 404
//! with a JSON body under the cap; a history answer's times lie within what is kept (a day
//! back, up to now) and it holds at most 20 000 points. Date formatting and every parser of a
//! parameter run here: a panic fails the target.
#![no_main]

mod support;

use std::convert::Infallible;
use std::time::{Duration, SystemTime};

use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use libfuzzer_sys::fuzz_target;
use tower::{Layer, ServiceExt, service_fn};
use tower_vitals::health::DetailPolicy;
use tower_vitals::{Check, HealthChecker, HealthLayer, MetricsCollector};

/// What a URI cannot carry as it is.
const UNSAFE: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'<')
    .add(b'>')
    .add(b'\\')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

fuzz_target!(|data: &[u8]| {
    let Some((&which, query)) = data.split_first() else {
        return;
    };
    let path = ["/health/history", "/health/incidents", "/health"][usize::from(which % 3)];
    // Any bytes: those a URI cannot carry are percent-encoded, as a client would send them.
    let query: String = percent_encoding::percent_encode(query, UNSAFE).to_string();
    let Ok(request) = Request::get(format!("{path}?{query}")).body(()) else {
        return;
    };

    let _guard = support::runtime().enter();
    let checker = HealthChecker::builder()
        .check("db", || async {})
        .register(Check::new("cache", || async { Err::<(), _>("refused") }).retries(0))
        .build()
        .unwrap();
    let app = service_fn(|_request: Request<()>| async {
        Ok::<_, Infallible>(Response::new(String::from("app")))
    });
    let service = HealthLayer::new(checker)
        .metrics(MetricsCollector::new())
        .details(DetailPolicy::Always)
        .layer(app);
    let response = support::runtime()
        .block_on(service.oneshot(request))
        .unwrap();
    let status = response.status();
    assert!(
        [
            StatusCode::OK,
            StatusCode::BAD_REQUEST,
            StatusCode::NOT_FOUND,
            StatusCode::SERVICE_UNAVAILABLE
        ]
        .contains(&status),
        "{path}?{query}: {status}"
    );
    let body = support::runtime()
        .block_on(response.into_body().collect())
        .unwrap()
        .to_bytes();
    assert!(
        body.len() <= 8 << 20,
        "{path}?{query}: {} bytes",
        body.len()
    );
    let json: serde_json::Value = serde_json::from_slice(&body).expect("a JSON body");
    if status == StatusCode::BAD_REQUEST || status == StatusCode::NOT_FOUND {
        assert!(json["error"].is_string(), "{path}?{query}: says why");
    }
    if status == StatusCode::OK && path == "/health/history" {
        let now = SystemTime::now();
        let time = |key: &str| {
            humantime::parse_rfc3339(json[key].as_str().expect("a time")).expect("RFC 3339")
        };
        assert!(
            time("until") <= now + Duration::from_secs(1),
            "until clamped"
        );
        assert!(
            time("since") + Duration::from_secs(86_401) >= now,
            "since clamped"
        );
        let points: usize = json["components"]
            .as_array()
            .unwrap()
            .iter()
            .chain(json.get("traffic"))
            .chain(json.get("process"))
            .map(|series| series["points"].as_array().unwrap().len())
            .sum();
        assert!(points <= 20_000, "{points} points");
    }
});
