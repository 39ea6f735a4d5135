//! `MetricsLayer` over a real Axum server: routes, outcomes, cancellations, timing.

mod common;
#[path = "support/exposition_tools.rs"]
mod exposition_tools;
#[path = "support/skip.rs"]
mod skip;

use std::convert::Infallible;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::StatusCode;
use axum::routing::{get, post};
use bytes::Bytes;
use futures_util::stream::{self, StreamExt};
use http::{HeaderMap, Request, Response};
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tower::{Layer, ServiceExt, service_fn};
use tower_vitals::health::DetailPolicy;
use tower_vitals::metrics::{MetricsCollector, MetricsLayer, MetricsSnapshot};
use tower_vitals::{HealthChecker, HealthLayer};

/// A body that sends a chunk every 20 ms for 10 s.
fn endless() -> Body {
    let chunks = stream::iter(0..500).then(|i| async move {
        tokio::time::sleep(Duration::from_millis(20)).await;
        Ok::<_, Infallible>(Bytes::from(format!("chunk {i}\n")))
    });
    Body::from_stream(chunks)
}

/// A gRPC-looking response whose outcome is only in its trailers.
fn grpc(status: &'static str) -> Response<Body> {
    let mut trailers = HeaderMap::new();
    trailers.insert("grpc-status", status.parse().unwrap());
    let frames = stream::iter([
        Ok::<_, Infallible>(Frame::data(Bytes::from_static(b"\0\0\0\0\0"))),
        Ok(Frame::trailers(trailers)),
    ]);
    Response::builder()
        .header("content-type", "application/grpc")
        .body(Body::new(StreamBody::new(frames)))
        .unwrap()
}

fn app(collector: &MetricsCollector) -> Router {
    let checker = HealthChecker::builder()
        .check("db", || async {})
        .build()
        .unwrap();
    Router::new()
        .route("/users/{id}", get(|| async { "user" }))
        .route(
            "/boom",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "boom") }),
        )
        .route("/stream", get(|| async { endless() }))
        .route(
            "/hang",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                "late"
            }),
        )
        .route(
            "/late-body",
            get(|| async {
                let body = stream::once(async {
                    tokio::time::sleep(Duration::from_millis(150)).await;
                    Ok::<_, Infallible>(Bytes::from_static(b"done"))
                });
                Body::from_stream(body)
            }),
        )
        .route("/grpc/ok", post(|| async { grpc("0") }))
        .route(
            "/grpc/internal",
            post(|| async { grpc("13") }).get(|| async { grpc("13") }),
        )
        .layer(
            HealthLayer::new(checker)
                .metrics(collector.clone())
                .details(DetailPolicy::Always),
        )
        .layer(MetricsLayer::new(collector.clone()))
}

/// Waits (up to 5 s) until the collector shows no request in flight.
async fn settled(collector: &MetricsCollector) -> MetricsSnapshot {
    let started = Instant::now();
    loop {
        let snapshot = collector.snapshot();
        if snapshot.in_flight == 0 || started.elapsed() > Duration::from_secs(5) {
            return snapshot;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The series of `route` and `class`. Without the `axum` feature every route is `unmatched`.
fn series<'a>(
    snapshot: &'a MetricsSnapshot,
    route: &str,
    class: &str,
) -> &'a tower_vitals::metrics::SeriesStats {
    let route = if cfg!(feature = "axum") {
        route
    } else {
        "unmatched"
    };
    snapshot
        .series
        .iter()
        .find(|s| &*s.route == route && s.status_class == class)
        .unwrap_or_else(|| panic!("no series {route} {class} in {:#?}", snapshot.series))
}

#[cfg(feature = "axum")]
#[tokio::test]
async fn routes_are_labelled_by_template_and_health_paths_are_left_out() {
    let collector = MetricsCollector::new();
    let server = common::serve_router(app(&collector)).await;
    for id in 1..=3 {
        assert_eq!(server.get(&format!("/users/{id}")).await.status, 200);
    }
    assert_eq!(server.get("/no/such/page").await.status, 404);
    assert_eq!(server.get("/boom").await.status, 500);
    for path in ["/health", "/health/live", "/health/ready/"] {
        assert_eq!(server.get(path).await.status, 200);
    }
    let snapshot = settled(&collector).await;
    assert_eq!(snapshot.in_flight, 0);
    assert_eq!(
        snapshot.totals.requests, 5,
        "health requests are not counted"
    );
    assert_eq!(series(&snapshot, "/users/{id}", "2xx").count, 3);
    assert_eq!(series(&snapshot, "unmatched", "4xx").count, 1);
    let boom = series(&snapshot, "/boom", "5xx");
    assert_eq!((boom.count, boom.failures), (1, 1));
    assert!(
        snapshot
            .series
            .iter()
            .all(|s| !s.route.contains("/users/1")),
        "never the raw path"
    );
    assert_eq!(snapshot.window.failures, 1);
}

#[tokio::test]
async fn the_detailed_report_has_performance_and_cache_sections() {
    let collector = MetricsCollector::new();
    collector.cache_hits(9);
    collector.cache_misses(1);
    let server = common::serve_router(app(&collector)).await;
    let idle = server.get("/health").await.json();
    assert_eq!(idle["performance"]["requests"], 0);
    for field in [
        "avg_latency_ms",
        "p95_latency_ms",
        "p99_latency_ms",
        "error_rate",
    ] {
        assert!(
            idle["performance"][field].is_null(),
            "{field}: nothing measured yet"
        );
    }
    for _ in 0..4 {
        server.get("/users/7").await;
    }
    server.get("/boom").await;
    let report = server.get("/health").await.json();
    let performance = &report["performance"];
    assert_eq!(performance["requests"], 5);
    assert_eq!(performance["error_rate"], 0.2);
    assert_eq!(performance["in_flight"], 0);
    assert!(performance["p95_latency_ms"].as_f64().unwrap() > 0.0);
    assert!(performance["avg_latency_ms"].as_f64().unwrap() > 0.0);
    assert!(performance["request_rate"].as_f64().unwrap() > 0.0);
    assert!(performance["window_seconds"].as_f64().unwrap() > 0.0);
    assert_eq!(report["cache"]["hit_rate"], 0.9);
    assert_eq!(report["cache"]["hits"], 9);
    assert_eq!(
        report["components"][0]["name"], "db",
        "the checks are still there"
    );
}

#[tokio::test]
async fn a_client_that_disconnects_mid_body_is_cancelled_and_in_flight_returns_to_zero() {
    let collector = MetricsCollector::new();
    let server = common::serve_router(app(&collector)).await;
    let mut client = TcpStream::connect(server.addr).await.unwrap();
    client
        .write_all(b"GET /stream HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut received = Vec::new();
    let mut buffer = [0; 1024];
    while !String::from_utf8_lossy(&received).contains("chunk 2") {
        let n = client.read(&mut buffer).await.unwrap();
        assert!(n > 0, "the server closed early");
        received.extend_from_slice(&buffer[..n]);
    }
    assert_eq!(collector.in_flight(), 1, "mid-body");
    drop(client);

    let snapshot = settled(&collector).await;
    assert_eq!(snapshot.in_flight, 0);
    assert_eq!(snapshot.totals.cancelled, 1);
    assert_eq!(snapshot.totals.successes, 0);
    assert_eq!(series(&snapshot, "/stream", "cancelled").count, 1);
}

#[tokio::test]
async fn a_client_that_disconnects_before_the_response_is_cancelled() {
    let collector = MetricsCollector::new();
    let server = common::serve_router(app(&collector)).await;
    let mut client = TcpStream::connect(server.addr).await.unwrap();
    client
        .write_all(b"GET /hang HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await
        .unwrap();
    while collector.in_flight() == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    drop(client);
    let snapshot = settled(&collector).await;
    assert_eq!((snapshot.in_flight, snapshot.totals.cancelled), (0, 1));
}

#[tokio::test]
async fn time_to_headers_is_measured_apart_from_the_whole_response() {
    let collector = MetricsCollector::new();
    let server = common::serve_router(app(&collector)).await;
    let reply = server.get("/late-body").await;
    assert_eq!(reply.body, b"done");
    let window = settled(&collector).await.window;
    assert!(
        window.latency.max >= Duration::from_millis(150),
        "{window:?}"
    );
    assert!(
        window.time_to_headers.max < Duration::from_millis(100),
        "{window:?}"
    );
}

#[tokio::test]
async fn grpc_outcomes_come_from_the_trailers() {
    let collector = MetricsCollector::new();
    let server = common::serve_router(app(&collector)).await;
    for path in ["/grpc/ok", "/grpc/internal", "/grpc/internal"] {
        let response = server
            .client
            .post(server.url(path))
            .header("content-type", "application/grpc")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.bytes().await.unwrap();
    }
    // Every gRPC call is a POST: a GET with the same content-type is judged by its status.
    let response = server
        .client
        .get(server.url("/grpc/internal"))
        .header("content-type", "application/grpc")
        .send()
        .await
        .unwrap();
    response.bytes().await.unwrap();
    let snapshot = settled(&collector).await;
    assert_eq!(snapshot.totals.failures, 2);
    assert_eq!(snapshot.totals.successes, 2);
    if cfg!(feature = "axum") {
        assert_eq!(series(&snapshot, "/grpc/ok", "2xx").failures, 0);
        let internal = |method| {
            let found = snapshot.series.iter().find(|s| {
                &*s.route == "/grpc/internal" && s.method == method && s.status_class == "2xx"
            });
            found.map(|s| (s.count, s.failures))
        };
        assert_eq!(internal("POST"), Some((2, 2)));
        assert_eq!(internal("GET"), Some((1, 0)));
    }
}

#[tokio::test]
async fn service_errors_are_failures_and_pass_through() {
    let collector = MetricsCollector::new();
    let failing = service_fn(|_request: Request<()>| async {
        Err::<Response<String>, _>(std::io::Error::other("backend down"))
    });
    let service = MetricsLayer::new(collector.clone()).layer(failing);
    let error = service
        .oneshot(Request::get("/x").body(()).unwrap())
        .await
        .unwrap_err();
    assert_eq!(error.to_string(), "backend down");
    let snapshot = collector.snapshot();
    let errored = series(&snapshot, "unmatched", "error");
    assert_eq!((errored.count, errored.failures), (1, 1));
    assert_eq!(snapshot.in_flight, 0);
}

#[tokio::test]
async fn a_body_read_to_the_end_by_hand_is_recorded_once() {
    let collector = MetricsCollector::new();
    let app = service_fn(|_request: Request<()>| async {
        Ok::<_, Infallible>(Response::new(http_body_util::Full::new(Bytes::from("abc"))))
    });
    let service = MetricsLayer::new(collector.clone()).layer(app);
    let response = service
        .oneshot(Request::get("/x").body(()).unwrap())
        .await
        .unwrap();
    let mut body = response.into_body();
    while let Some(frame) = body.frame().await {
        frame.unwrap();
    }
    drop(body);
    let snapshot = collector.snapshot();
    assert_eq!(
        (snapshot.totals.requests, snapshot.totals.cancelled),
        (1, 0)
    );
    assert_eq!(snapshot.in_flight, 0);
}

/// Requests per route in a snapshot (all classes).
#[cfg(feature = "axum")]
fn counted(snapshot: &MetricsSnapshot, route: &str) -> u64 {
    snapshot
        .series
        .iter()
        .filter(|s| &*s.route == route)
        .map(|s| s.count)
        .sum()
}

#[cfg(feature = "axum")]
#[tokio::test]
async fn exclusions_hold_per_template_where_they_can_and_per_path_where_they_cannot() {
    let collector = MetricsCollector::new();
    let ok = || get(|| async { "ok" });
    let app = Router::new()
        .route("/users/{id}", ok())
        .route("/internal/{job}", ok())
        .route("/favicon.ico", ok())
        .route("/api/{id}", ok())
        .route("/health", ok())
        .route("/{*rest}", ok())
        .layer(
            MetricsLayer::new(collector.clone())
                .exclude_path("/users/admin")
                .exclude_prefix("/internal")
                .exclude_path("/favicon.ico"),
        );
    let server = common::serve_router(app).await;
    // Twice each: the first request decides a template, the second uses the decision.
    for _ in 0..2 {
        for path in [
            "/users/7",
            "/users/admin",
            "/internal/reindex",
            "/favicon.ico",
            "/api/3",
            "/health",
            "/health/ready",
            "/metrics",
            "/about",
        ] {
            assert_eq!(server.get(path).await.status, 200, "{path}");
        }
    }
    let snapshot = settled(&collector).await;
    assert_eq!(
        counted(&snapshot, "/users/{id}"),
        2,
        "/users/admin is left out"
    );
    assert_eq!(counted(&snapshot, "/internal/{job}"), 0);
    assert_eq!(counted(&snapshot, "/favicon.ico"), 0);
    assert_eq!(counted(&snapshot, "/api/{id}"), 2);
    assert_eq!(counted(&snapshot, "/health"), 0, "the default health paths");
    assert_eq!(
        counted(&snapshot, "/{*rest}"),
        2,
        "only /about: /health/ready and /metrics are health paths"
    );
    assert_eq!(snapshot.totals.requests, 6);

    // A HealthLayer given the collector now serves under /ops (it says so when it wraps a
    // service): /health and /metrics are the application's from here on, though their routes
    // were decided with the defaults.
    let checker = HealthChecker::builder().build().unwrap();
    let _health = HealthLayer::new(checker)
        .prefix("/ops")
        .unwrap()
        .metrics(collector.clone())
        .layer(Router::<()>::new());
    for path in ["/health", "/metrics", "/ops/health/ready", "/users/admin"] {
        assert_eq!(server.get(path).await.status, 200, "{path}");
    }
    let snapshot = settled(&collector).await;
    assert_eq!(counted(&snapshot, "/health"), 1);
    assert_eq!(
        counted(&snapshot, "/{*rest}"),
        3,
        "/metrics now counted, /ops/... not"
    );
    assert_eq!(counted(&snapshot, "/users/{id}"), 2);
}

#[cfg(feature = "axum")]
#[tokio::test]
async fn exact_status_codes_are_labelled_up_to_the_cap_then_by_class() {
    let collector = MetricsCollector::builder().status_codes(2).build().unwrap();
    let checker = HealthChecker::builder().build().unwrap();
    let app = Router::new()
        .route(
            "/users/{id}",
            get(
                |axum::extract::Path(id): axum::extract::Path<u32>| async move {
                    match id {
                        0 => StatusCode::NOT_FOUND,
                        1 => StatusCode::IM_A_TEAPOT,
                        _ => StatusCode::OK,
                    }
                },
            ),
        )
        .layer(MetricsLayer::new(collector.clone()));
    let app = HealthLayer::new(checker)
        .metrics(collector.clone())
        .details(DetailPolicy::Always)
        .around(app);
    let server = common::serve_router(Router::new().fallback_service(app)).await;
    for id in [7, 0, 8, 1, 0] {
        server.get(&format!("/users/{id}")).await;
    }
    let text = String::from_utf8(server.get("/metrics").await.body).unwrap();
    let prefix = r#"vitals_http_server_requests_total{route="/users/{id}",method="GET","#;
    for line in [
        format!(r#"{prefix}status_class="2xx",status_code="200"}} 2"#),
        format!(r#"{prefix}status_class="4xx",status_code="404"}} 2"#),
        format!(r#"{prefix}status_class="4xx"}} 1"#),
    ] {
        assert!(text.lines().any(|l| l == line), "no {line} in\n{text}");
    }
    let json = server.get("/health/reliability").await.json();
    let routes = json["metrics"]["requests"]["routes"]
        .as_array()
        .unwrap_or_else(|| panic!("{json:#}"));
    let with = |code: serde_json::Value| {
        routes
            .iter()
            .filter(|r| r["status_code"] == code)
            .map(|r| r["requests"].as_u64().unwrap())
            .sum::<u64>()
    };
    assert_eq!(
        (
            with(200.into()),
            with(404.into()),
            with(serde_json::Value::Null)
        ),
        (2, 2, 1),
        "{routes:?}"
    );
}

#[cfg(feature = "axum")]
#[tokio::test]
async fn route_labels_can_be_allowed_grouped_and_given_bounds_of_their_own() {
    let collector = MetricsCollector::builder()
        .routes_only(["/users/{id}", "/upload", "/static/*"])
        .route_buckets("/upload", [Duration::from_secs(1), Duration::from_secs(5)])
        .build()
        .unwrap();
    let ok = || get(|| async { "ok" });
    let files = tower::service_fn(|_request: Request<Body>| async {
        Ok::<_, Infallible>(Response::new(Body::from("file")))
    });
    let app = Router::new()
        .route("/users/{id}", ok())
        .route("/upload", ok())
        .route("/admin/{task}", ok())
        .route("/static/logo.png", ok())
        .nest_service("/static", files)
        .layer(
            MetricsLayer::new(collector.clone())
                .group_prefix("/static")
                .unwrap(),
        );
    let checker = HealthChecker::builder().build().unwrap();
    let app = HealthLayer::new(checker)
        .metrics(collector.clone())
        .around(app);
    let server = common::serve_router(Router::new().fallback_service(app)).await;
    for path in [
        "/users/1",
        "/users/2",
        "/upload",
        "/admin/reindex",
        "/static/a.css",
        "/static/b/c.js",
        "/static/logo.png",
        "/nothing",
    ] {
        server.get(path).await;
    }
    let snapshot = settled(&collector).await;
    assert_eq!(counted(&snapshot, "/users/{id}"), 2);
    assert_eq!(counted(&snapshot, "/upload"), 1);
    assert_eq!(
        counted(&snapshot, "other"),
        1,
        "/admin/{{task}} is not allowed"
    );
    assert_eq!(
        counted(&snapshot, "/static/*"),
        3,
        "by path under nest_service, by template for /static/logo.png"
    );
    assert_eq!(counted(&snapshot, "unmatched"), 1);
    assert!(
        snapshot
            .series
            .iter()
            .all(|s| !s.route.starts_with("/static/") || &*s.route == "/static/*")
    );

    let text = String::from_utf8(server.get("/metrics").await.body).unwrap();
    let upload: Vec<&str> = text
        .lines()
        .filter(|l| {
            l.starts_with("vitals_http_server_request_duration_seconds_bucket{route=\"/upload\"")
        })
        .collect();
    assert_eq!(upload.len(), 3, "{upload:?}");
    for (line, le) in upload.iter().zip(["1", "5", "+Inf"]) {
        assert!(line.contains(&format!("le=\"{le}\"")), "{line}");
    }
    let users = text
        .lines()
        .filter(|l| {
            l.starts_with(
                "vitals_http_server_request_duration_seconds_bucket{route=\"/users/{id}\"",
            )
        })
        .count();
    assert_eq!(users, 15, "the default 14 bounds and +Inf");
    if let Some((passed, said)) = exposition_tools::promtool(&text) {
        assert!(passed && said.trim().is_empty(), "promtool:\n{said}");
    }
}

/// A finished body (`/small`: 3 bytes), one over the bound of a finished body (`/large`:
/// 20 KiB), and one streaming for 200 ms (`/slow`: four chunks 50 ms apart).
#[cfg(feature = "axum")]
fn bodies() -> Router {
    Router::new()
        .route("/small", get(|| async { "abc" }))
        .route("/large", get(|| async { "x".repeat(20 * 1024) }))
        .route(
            "/slow",
            get(|| async {
                let chunks = stream::iter(0..4).then(|i| async move {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Ok::<_, Infallible>(Bytes::from(format!("chunk {i}\n")))
                });
                Body::from_stream(chunks)
            }),
        )
}

#[cfg(feature = "axum")]
#[tokio::test]
async fn finished_bodies_are_recorded_at_the_head_and_streaming_ones_at_their_end() {
    for for_axum in [false, true] {
        let collector = MetricsCollector::new();
        let layer = MetricsLayer::new(collector.clone());
        let router = match for_axum {
            true => bodies().layer(layer.for_axum()),
            false => bodies().layer(layer),
        };
        let get = |path: &str| Request::get(path).body(Body::empty()).unwrap();

        // Finished at the head: recorded before the body is read, its size kept; never read,
        // it is still a request served, not a cancelled one.
        let response = router.clone().oneshot(get("/small")).await.unwrap();
        let snapshot = collector.snapshot();
        assert_eq!(
            (snapshot.totals.requests, snapshot.in_flight),
            (1, 0),
            "{for_axum}"
        );
        assert_eq!(http_body::Body::size_hint(response.body()).exact(), Some(3));
        drop(response);
        let snapshot = collector.snapshot();
        assert_eq!(
            (snapshot.totals.requests, snapshot.totals.cancelled),
            (1, 0)
        );

        // Over the bound: measured to the end of the body.
        let response = router.clone().oneshot(get("/large")).await.unwrap();
        assert_eq!(collector.snapshot().in_flight, 1, "{for_axum}");
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body.len(), 20 * 1024);
        let snapshot = collector.snapshot();
        assert_eq!((snapshot.totals.requests, snapshot.in_flight), (2, 0));

        // Streaming for 200 ms through a real server: timed to its end.
        let server = common::serve_router(router).await;
        let reply = server.get("/slow").await;
        assert_eq!(reply.body, b"chunk 0\nchunk 1\nchunk 2\nchunk 3\n");
        let window = settled(&collector).await.window;
        assert!(
            window.latency.max >= Duration::from_millis(200),
            "{for_axum}: {window:?}"
        );
        assert!(
            window.time_to_headers.max < window.latency.max,
            "{window:?}"
        );
        println!(
            "for_axum {for_axum}: a body streaming for 200 ms recorded {:?} (headers after {:?})",
            window.latency.max, window.time_to_headers.max
        );
    }
}
