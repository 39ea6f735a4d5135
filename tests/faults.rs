//! Faults: checks that panic, hang, fail and flap; an inner service that errors; clients that
//! go away mid-request and mid-body; a slow-loris client on a health path; background tasks
//! cancelled; a runtime shut down with checks in flight. Each time the app keeps serving, the
//! figures stay right and no task is left behind.

mod common;

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::{get, post};
use futures_util::future::join_all;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tower_vitals::health::DetailPolicy;
use tower_vitals::{
    Check, HealthChecker, HealthLayer, HealthStatus, MetricsCollector, MetricsLayer,
};

fn explode() -> HealthStatus {
    panic!("corrupted state")
}

fn faulty_checker() -> HealthChecker {
    let flips = Arc::new(AtomicU32::new(0));
    HealthChecker::builder()
        .register(Check::new("panics", || async { explode() }).retries(0))
        .register(
            Check::new("hangs", std::future::pending::<()>)
                .timeout(Duration::from_millis(150))
                .retries(0),
        )
        .register(Check::new("errors", || async { Err::<(), _>("refused") }).retries(1))
        .register(Check::new("flaps", move || {
            let n = flips.fetch_add(1, Ordering::SeqCst);
            async move { n.is_multiple_of(2) }
        }))
        .cache_ttl(Duration::from_millis(20))
        .deadline(Duration::from_millis(300))
        .build()
        .unwrap()
}

fn app(checker: &HealthChecker, metrics: &MetricsCollector) -> Router {
    Router::new()
        .route("/", get(|| async { "home" }))
        .route(
            "/upload",
            post(|body: String| async move { format!("{} bytes", body.len()) }),
        )
        .layer(
            HealthLayer::new(checker.clone())
                .metrics(metrics.clone())
                .details(DetailPolicy::Always),
        )
        .layer(MetricsLayer::new(metrics.clone()))
}

async fn settled(metrics: &MetricsCollector) {
    let started = Instant::now();
    while metrics.in_flight() > 0 && started.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_checks_never_stop_the_app_and_leave_no_task_behind() {
    let checker = faulty_checker();
    let metrics = MetricsCollector::new();
    let mut server = common::serve_router(app(&checker, &metrics)).await;
    // No idle connections kept: the server's connection tasks end with each request, so the
    // tasks counted below are the checker's (how many connections a loaded client keeps open
    // would otherwise move the count).
    server.client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let server = Arc::new(server);
    let round = || {
        let server = server.clone();
        async move {
            let calls = (0..40).map(|i| {
                let server = server.clone();
                async move {
                    let path = ["/", "/health", "/health/ready", "/health/live"][i % 4];
                    let reply = server.get(path).await;
                    (path, reply.status)
                }
            });
            for (path, status) in join_all(calls).await {
                match path {
                    "/" | "/health/live" => assert_eq!(status, 200, "{path}"),
                    _ => assert_eq!(status, 503, "{path}: a critical check fails"),
                }
            }
        }
    };
    round().await;
    tokio::time::sleep(Duration::from_millis(300)).await; // hanging runs time out
    let baseline = alive_tasks();
    for _ in 0..3 {
        round().await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    settled(&metrics).await;
    assert_eq!(metrics.in_flight(), 0);
    assert!(
        alive_tasks() <= baseline,
        "tasks: {} now, {baseline} before",
        alive_tasks()
    );
    let report = server.get("/health").await.json();
    let message = |i: usize| {
        report["components"][i]["message"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(message(0), "check panicked: corrupted state");
    assert_eq!(message(1), "timed out after 150 ms");
    assert_eq!(message(2), "refused");
    assert_eq!(
        metrics.snapshot().totals.failures,
        0,
        "503s from health paths are not app traffic"
    );
}

#[tokio::test]
async fn an_inner_service_error_passes_through_and_the_server_keeps_serving() {
    use http::{Request, Response};
    use http_body_util::Full;
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::service::TowerToHyperService;
    use tower::{ServiceBuilder, service_fn};

    let metrics = MetricsCollector::new();
    let checker = HealthChecker::builder().build().unwrap();
    let service = ServiceBuilder::new()
        .layer(HealthLayer::new(checker))
        .layer(MetricsLayer::new(metrics.clone()))
        .service(service_fn(
            |request: Request<hyper::body::Incoming>| async move {
                if request.uri().path() == "/boom" {
                    return Err(std::io::Error::other("backend exploded"));
                }
                Ok(Response::new(Full::new(bytes::Bytes::from_static(b"fine"))))
            },
        ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let service = TowerToHyperService::new(service.clone());
            tokio::spawn(async move {
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    let client = reqwest::Client::new();
    for _ in 0..3 {
        assert!(
            client
                .get(format!("http://{addr}/boom"))
                .send()
                .await
                .is_err(),
            "hyper drops the connection"
        );
        let fine = client
            .get(format!("http://{addr}/fine"))
            .send()
            .await
            .unwrap();
        assert_eq!(fine.text().await.unwrap(), "fine");
        let live = client
            .get(format!("http://{addr}/health/live"))
            .send()
            .await
            .unwrap();
        assert_eq!(live.status(), 200);
    }
    settled(&metrics).await;
    let snapshot = metrics.snapshot();
    assert_eq!(
        (
            snapshot.in_flight,
            snapshot.totals.failures,
            snapshot.totals.successes
        ),
        (0, 3, 3)
    );
    server.abort();
}

#[tokio::test]
async fn clients_that_go_away_mid_request_leave_the_figures_right() {
    let checker = HealthChecker::builder().build().unwrap();
    let metrics = MetricsCollector::new();
    let server = common::serve_router(app(&checker, &metrics)).await;
    for _ in 0..5 {
        let mut client = TcpStream::connect(server.addr).await.unwrap();
        client
            .write_all(
                b"POST /upload HTTP/1.1\r\nhost: x\r\ncontent-length: 100000\r\n\r\npartial body",
            )
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(client); // mid-request: the handler's body read fails
        let mut client = TcpStream::connect(server.addr).await.unwrap();
        client
            .write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        drop(client); // before reading the answer
    }
    settled(&metrics).await;
    let snapshot = metrics.snapshot();
    assert_eq!(snapshot.in_flight, 0);
    assert_eq!(snapshot.totals.requests, 5, "every upload recorded once");
    assert_eq!(server.get("/").await.status, 200);
}

#[tokio::test]
async fn a_slow_loris_on_a_health_path_does_not_hold_up_anyone() {
    let checker = HealthChecker::builder()
        .check("db", || async {})
        .build()
        .unwrap();
    let metrics = MetricsCollector::new();
    let server = Arc::new(common::serve_router(app(&checker, &metrics)).await);
    let loris = tokio::spawn({
        let addr = server.addr;
        async move {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            for byte in b"GET /health/ready HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n" {
                stream.write_all(&[*byte]).await.unwrap();
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            let mut answer = String::new();
            stream.read_to_string(&mut answer).await.unwrap();
            answer
        }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    for _ in 0..20 {
        assert_eq!(server.get("/health/ready").await.status, 200);
    }
    // Answered while the slow client is still sending (about 1.5 s of it): nobody waited for it.
    assert!(!loris.is_finished(), "the slow client is still sending");
    assert!(loris.await.unwrap().starts_with("HTTP/1.1 200"));
}

#[test]
fn cancelled_background_tasks_start_again_on_the_next_runtime() {
    let runs = Arc::new(AtomicU32::new(0));
    let counter = runs.clone();
    let checker = HealthChecker::builder()
        .register(
            Check::new("warehouse", move || {
                counter.fetch_add(1, Ordering::SeqCst);
                async {}
            })
            .background(Duration::from_millis(100)),
        )
        .build()
        .unwrap();
    let first = tokio::runtime::Runtime::new().unwrap();
    first.block_on(async {
        checker.report().await;
        tokio::time::sleep(Duration::from_millis(250)).await;
    });
    first.shutdown_timeout(Duration::from_secs(1)); // the background task is dropped
    let before = runs.load(Ordering::SeqCst);
    assert!(before >= 2);

    let second = tokio::runtime::Runtime::new().unwrap();
    second.block_on(async {
        checker.report().await; // starts the schedule again
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert!(runs.load(Ordering::SeqCst) >= before + 2, "runs resumed");
        let report = checker.report().await;
        assert!(report.components[0].fresh);
    });
}

#[test]
fn a_runtime_shut_down_with_checks_in_flight_leaves_a_usable_checker() {
    let checker = HealthChecker::builder()
        .register(
            Check::new("slow", || async {
                tokio::time::sleep(Duration::from_secs(30)).await
            })
            .timeout(Duration::from_secs(60)),
        )
        .deadline(Duration::from_millis(50))
        .build()
        .unwrap();
    let metrics = MetricsCollector::new();
    let first = tokio::runtime::Runtime::new().unwrap();
    let served = first.block_on(async {
        let server = common::serve_router(app(&checker, &metrics)).await;
        let reply = server.get("/health/ready").await;
        std::mem::forget(server); // its task dies with the runtime
        reply.status
    });
    assert_eq!(served, 503, "unknown: the check is still running");
    first.shutdown_timeout(Duration::from_secs(1)); // the check's run and the server go away

    let second = tokio::runtime::Runtime::new().unwrap();
    second.block_on(async {
        // A new run starts; answered at the deadline, not when the 30 s run ends: unknown.
        let report = checker.report().await;
        assert_eq!(report.components[0].status, HealthStatus::Unknown);
        let server = common::serve_router(app(&checker, &metrics)).await;
        assert_eq!(server.get("/").await.status, 200);
        settled(&metrics).await;
        assert_eq!(metrics.in_flight(), 0);
    });
}

#[tokio::test]
async fn requests_recorded_on_a_runtime_that_ended_are_all_counted() {
    let metrics = MetricsCollector::new();
    // Even requests answer a finished body (recorded at the head), odd ones a body that
    // streams (recorded at its end, so cancelled when it is dropped unread).
    let service = tower::ServiceBuilder::new()
        .layer(MetricsLayer::new(metrics.clone()))
        .service(tower::service_fn(
            |request: http::Request<u32>| async move {
                let chunk = http_body::Frame::data(bytes::Bytes::from_static(b"ok"));
                let body = if request.body().is_multiple_of(2) {
                    axum::body::Body::from("ok")
                } else {
                    let frames = futures_util::stream::iter([Ok::<_, Infallible>(chunk)]);
                    axum::body::Body::new(http_body_util::StreamBody::new(frames))
                };
                Ok::<_, Infallible>(http::Response::new(body))
            },
        ));
    let runtime = std::thread::spawn(move || {
        // Requests on another runtime that ends right after: nothing recorded there is lost.
        tokio::runtime::Runtime::new().unwrap().block_on(async {
            use tower::ServiceExt;
            for i in 0..20 {
                let response = service
                    .clone()
                    .oneshot(http::Request::new(i))
                    .await
                    .unwrap();
                drop(response);
            }
        });
    });
    runtime.join().unwrap();
    let snapshot = metrics.snapshot();
    assert_eq!(snapshot.totals.requests, 20);
    assert_eq!(snapshot.in_flight, 0);
    assert_eq!(
        snapshot.totals.cancelled, 10,
        "streaming bodies dropped unread count as cancelled, finished ones were served"
    );
}
