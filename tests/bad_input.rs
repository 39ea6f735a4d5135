//! Bad and odd input over raw TCP: every method on every health path, odd paths, long queries,
//! bytes that are not UTF-8, no Host, odd component names. The server answers each with a clear
//! status and keeps serving.

mod common;

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tower_vitals::health::DetailPolicy;
use tower_vitals::{HealthChecker, HealthLayer, MetricsCollector, MetricsLayer};

const HEALTH_PATHS: [&str; 8] = [
    "/health/live",
    "/health/ready",
    "/health",
    "/health/reliability",
    "/metrics",
    "/health/history",
    "/health/incidents",
    "/health/dashboard",
];

async fn server() -> (common::Server, MetricsCollector) {
    let checker = HealthChecker::builder()
        .check("db \"primary\"", || async {})
        .check("検索-índice ☃", || async {})
        .check("back\\slash", || async {})
        .build()
        .unwrap();
    let metrics = MetricsCollector::new();
    let app = Router::new()
        .route("/", get(|| async { "home" }))
        .layer(
            HealthLayer::new(checker)
                .metrics(metrics.clone())
                .details(DetailPolicy::Always),
        )
        .layer(MetricsLayer::new(metrics.clone()));
    (common::serve_router(app).await, metrics)
}

/// Sends raw bytes, returns the status code of the answer (0 if the connection closed without
/// one) and the whole answer.
async fn raw(server: &common::Server, request: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    assert!(
        read.is_ok(),
        "no answer within 5 s to {:?}",
        String::from_utf8_lossy(&request[..request.len().min(80)])
    );
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    (status, text)
}

fn request(method: &str, target: &str) -> Vec<u8> {
    format!("{method} {target} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
        .into_bytes()
}

#[tokio::test]
async fn every_method_on_every_health_path_gets_an_answer() {
    let (server, _) = server().await;
    let methods = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "PURGE", "M-SEARCH",
    ];
    for path in HEALTH_PATHS {
        for method in methods {
            let (status, text) = raw(&server, &request(method, path)).await;
            match method {
                "GET" | "HEAD" => assert_eq!(status, 200, "{method} {path}: {text}"),
                _ => {
                    assert_eq!(status, 405, "{method} {path}: {text}");
                    assert!(
                        text.to_ascii_lowercase().contains("allow: get, head"),
                        "{text}"
                    );
                }
            }
        }
    }
    assert_eq!(
        raw(&server, &request("GET", "/")).await.0,
        200,
        "still serving"
    );
}

#[tokio::test]
async fn odd_paths_reach_the_app_or_the_right_endpoint() {
    let (server, metrics) = server().await;
    let cases = [
        ("/health/live/", 200),
        ("//health/live", 404),
        ("/./health/live", 404),
        ("/health/./live", 404),
        ("/health/../health/live", 404),
        ("/health%2Flive", 404),
        ("/health/%6Cive", 404),
        ("/health/live//", 404),
        ("/HEALTH/LIVE", 404),
        ("/health/live;x=1", 404),
        ("/health/live?verbose&exclude=%FF%FE&a=%", 200),
    ];
    for (path, expected) in cases {
        let (status, text) = raw(&server, &request("GET", path)).await;
        assert_eq!(status, expected, "{path}: {text}");
    }
    // 404s from the app are counted under one bounded label, never under the raw paths.
    let snapshot = metrics.snapshot();
    assert!(
        snapshot.series.iter().all(|s| !s.route.contains("health")),
        "{:?}",
        snapshot.series
    );
}

#[tokio::test]
async fn long_queries_non_utf8_bytes_and_missing_hosts_are_answered() {
    let (server, _) = server().await;
    let long = format!("/health/ready?{}", "exclude=x&".repeat(6_000));
    let (status, _) = raw(&server, &request("GET", &long)).await;
    assert!(status == 200 || status == 414, "a 60 KB query: {status}");

    let mut binary =
        b"GET /health/\xff\xfe HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n".to_vec();
    let (status, _) = raw(&server, &binary).await;
    assert!(
        status == 400 || status == 404 || status == 0,
        "non-UTF-8 path: {status}"
    );
    binary = b"GET /health/live HTTP/1.1\r\nx-odd: \xff\xfe\r\nconnection: close\r\n\r\n".to_vec();
    assert_eq!(
        raw(&server, &binary).await.0,
        200,
        "no Host, odd header bytes"
    );
    let (status, _) = raw(&server, b"GET /health HTTP/1.0\r\n\r\n").await;
    assert_eq!(status, 200, "HTTP/1.0 without Host");
    let (status, _) = raw(
        &server,
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n",
    )
    .await;
    assert!(
        status == 400 || status == 0,
        "a TLS hello on a plain port: {status}"
    );

    let huge = format!(
        "GET /health/live HTTP/1.1\r\nhost: x\r\nx-big: {}\r\nconnection: close\r\n\r\n",
        "a".repeat(200_000)
    );
    let (status, _) = raw(&server, huge.as_bytes()).await;
    // Hyper's own limit decides (its read buffer holds about 400 KB): answered or refused.
    assert!(
        matches!(status, 200 | 400 | 431 | 0),
        "200 KB of headers: {status}"
    );
    assert_eq!(
        raw(&server, &request("GET", "/")).await.0,
        200,
        "still serving"
    );
}

#[tokio::test]
async fn odd_component_names_survive_json_and_prometheus() {
    let (server, _) = server().await;
    let report = server.get("/health").await.json();
    let names: Vec<&str> = report["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["db \"primary\"", "検索-índice ☃", "back\\slash"]);
    let text = String::from_utf8(server.get("/metrics").await.body).unwrap();
    for escaped in [
        r#"component="db \"primary\"""#,
        r#"component="検索-índice ☃""#,
        r#"component="back\\slash""#,
    ] {
        assert!(text.contains(escaped), "{escaped} in {text}");
    }
}
