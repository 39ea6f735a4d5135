//! The built-in checks against real peers on loopback.

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use tokio::net::TcpListener;
use tower_vitals::checks::{DnsCheck, Limit, RuntimeCheck, TcpCheck, TrafficCheck};
use tower_vitals::metrics::{MetricsCollector, Outcome, RequestRecord};
use tower_vitals::{Check, ComponentStatus, HealthCheck, HealthChecker, HealthStatus};

/// Runs one check once (no retries) and returns its component.
async fn run(check: impl HealthCheck) -> ComponentStatus {
    let checker = HealthChecker::builder()
        .register(
            Check::new("check", check)
                .retries(0)
                .timeout(Duration::from_secs(2)),
        )
        .deadline(Duration::from_secs(3))
        .build()
        .unwrap();
    checker.report().await.components.remove(0)
}

#[tokio::test]
async fn tcp_connects_to_a_listener_and_fails_on_a_closed_port() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let open = listener.local_addr().unwrap().to_string();
    let up = run(TcpCheck::new(open.clone())).await;
    assert_eq!(up.status, HealthStatus::Healthy);
    assert_eq!(up.metadata["peer"], open);
    assert!(up.metadata["connect_ms"].as_f64().unwrap() >= 0.0);

    drop(listener);
    let down = run(TcpCheck::new(open.clone())).await;
    assert_eq!(down.status, HealthStatus::Unhealthy);
    let message = down.message.unwrap();
    assert!(
        message.starts_with(&format!("connect to {open}: "))
            && message.contains("Connection refused"),
        "the OS's own words: {message}"
    );
}

#[cfg(feature = "http-client")]
#[tokio::test]
async fn http_checks_the_status_and_the_response_time() {
    use axum::Router;
    use axum::routing::get;
    use tower_vitals::checks::HttpCheck;
    let app = Router::new()
        .route("/ok", get(|| async { "fine" }))
        .route(
            "/down",
            get(|| async { (StatusCode::SERVICE_UNAVAILABLE, "no") }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        );
    let server = common::serve_router(app).await;
    let ok = run(HttpCheck::new(&server.url("/ok")).unwrap()).await;
    assert_eq!(ok.status, HealthStatus::Healthy);
    assert_eq!(ok.metadata["status"], 200);

    let down = run(HttpCheck::new(&server.url("/down")).unwrap()).await;
    assert_eq!(down.status, HealthStatus::Unhealthy);
    assert_eq!(
        down.message.as_deref(),
        Some(&*format!(
            "GET {} answered 503 Service Unavailable, expected 200-399",
            server.url("/down")
        ))
    );
    let accepted = HttpCheck::new(&server.url("/down"))
        .unwrap()
        .expect_status(200..=503);
    assert_eq!(run(accepted).await.status, HealthStatus::Healthy);

    let slow = HttpCheck::new(&server.url("/slow"))
        .unwrap()
        .request_timeout(Duration::from_millis(100));
    let timed_out = run(slow).await;
    assert!(
        timed_out
            .message
            .unwrap()
            .ends_with("no response within 100 ms")
    );

    // The server stopped: the OS's own words, not "timed out".
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/ok", closed.local_addr().unwrap());
    drop(closed);
    let refused = run(HttpCheck::new(&url).unwrap()).await;
    assert_eq!(refused.status, HealthStatus::Unhealthy);
    let message = refused.message.unwrap();
    assert!(message.contains("Connection refused"), "{message}");

    // https:// needs the `tls` feature; other schemes are never checked.
    assert_eq!(
        HttpCheck::new("https://example.com/").is_ok(),
        cfg!(feature = "tls")
    );
    assert!(HttpCheck::new("ftp://example.com/").is_err());
    assert!(HttpCheck::new("not a uri").is_err());
}

#[tokio::test]
async fn dns_resolves_localhost_and_fails_on_a_reserved_invalid_name() {
    let local = run(DnsCheck::new("localhost")).await;
    assert_eq!(local.status, HealthStatus::Healthy);
    let addresses = local.metadata["addresses"].as_array().unwrap();
    assert!(
        addresses.iter().any(|a| a == "127.0.0.1" || a == "::1"),
        "{addresses:?}"
    );

    let missing = run(DnsCheck::new("no-such-host.invalid")).await;
    assert_eq!(missing.status, HealthStatus::Unhealthy);
    assert!(
        missing
            .message
            .unwrap()
            .starts_with("resolve no-such-host.invalid")
    );
}

#[cfg(all(feature = "process", target_os = "linux"))]
#[tokio::test]
async fn process_and_disk_figures_are_judged_against_limits() {
    use tower_vitals::checks::{DiskSpaceCheck, ProcessCheck};
    let process = run(ProcessCheck::new()).await;
    assert!(process.metadata["resident_memory_bytes"].as_u64().unwrap() > 0);
    assert!(process.metadata["threads"].as_u64().unwrap() >= 1);

    let crowded = run(ProcessCheck::new().threads(Limit::above(1.0, 1.0).unwrap())).await;
    assert_eq!(crowded.status, HealthStatus::Unhealthy);
    let threads = crowded.metadata["threads"].as_u64().unwrap();
    assert_eq!(
        crowded.message.unwrap(),
        format!("threads {threads} is at or above 1")
    );

    let disk = run(DiskSpaceCheck::new("/")).await;
    let (free, total) = (
        disk.metadata["free_bytes"].as_u64().unwrap(),
        disk.metadata["total_bytes"].as_u64().unwrap(),
    );
    assert!(total > 0 && free <= total);
    // A limit no disk can meet: more than everything free.
    let impossible = DiskSpaceCheck::new("/").free_ratio(Limit::below(1.01, 1.001).unwrap());
    assert_eq!(run(impossible).await.status, HealthStatus::Unhealthy);
    let missing = run(DiskSpaceCheck::new("/no/such/path")).await;
    assert!(
        missing
            .message
            .unwrap()
            .starts_with("statvfs /no/such/path")
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_blocked_runtime_degrades_the_runtime_check() {
    let check = std::sync::Arc::new(RuntimeCheck::new());
    let shared = check.clone();
    let run_once = move || {
        let check = shared.clone();
        async move { check.check().await }
    };
    let checker = HealthChecker::builder()
        .register(Check::new("runtime", run_once).retries(0))
        .cache_ttl(Duration::ZERO)
        .build()
        .unwrap();
    checker.report().await; // starts the probe
    tokio::time::sleep(Duration::from_millis(150)).await;
    std::thread::sleep(Duration::from_millis(400)); // block the only worker
    tokio::time::sleep(Duration::from_millis(150)).await;
    // The lag since the last run, read by the next run (the checker's own, or this one).
    let result = check.check().await.unwrap();
    let metadata = result.metadata();
    assert_eq!(result.status(), HealthStatus::Unhealthy, "{metadata:?}");
    assert!(metadata["max_lag_ms"].as_f64().unwrap() >= 250.0);
    assert_eq!(metadata["workers"], 1);
    drop(checker);
}

#[tokio::test]
async fn traffic_turns_unhealthy_on_errors_and_waits_for_enough_requests() {
    let collector = MetricsCollector::new();
    let record = |status: u16| {
        collector.record(&RequestRecord {
            route: Some("/orders"),
            method: &http::Method::GET,
            outcome: Outcome::status(StatusCode::from_u16(status).unwrap()),
            duration: Duration::from_millis(20),
            time_to_headers: None,
        })
    };
    for _ in 0..10 {
        record(500);
    }
    let few = run(TrafficCheck::new(collector.clone())).await;
    assert_eq!(few.status, HealthStatus::Healthy);
    assert!(few.message.unwrap().contains("too few to judge"));
    for _ in 0..20 {
        record(200);
    }
    let failing = run(TrafficCheck::new(collector.clone())).await;
    assert_eq!(failing.status, HealthStatus::Unhealthy);
    assert_eq!(
        failing.message.as_deref(),
        Some("error rate 0.33 is at or above 0.25")
    );
    let lenient = TrafficCheck::new(collector).error_rate(Limit::above(0.5, 0.9).unwrap());
    assert_eq!(run(lenient).await.status, HealthStatus::Healthy);
}

/// Polls `/health` until its first component shows `status` (a hang guard, not a time limit).
async fn shown(server: &common::Server, status: &str) -> serde_json::Value {
    for _ in 0..1000 {
        let report = server.get("/health").await.json();
        if report["components"][0]["status"] == status {
            return report["components"][0].clone();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("never {status}");
}

/// A server whose one component, `name`, is `check`, gating readiness; details shown.
async fn serve_one(name: &str, check: impl HealthCheck) -> common::Server {
    let checker = HealthChecker::builder()
        .register(Check::new(name, check))
        .cache_ttl(Duration::from_millis(20))
        .build()
        .unwrap();
    let layer =
        tower_vitals::HealthLayer::new(checker).details(tower_vitals::health::DetailPolicy::Always);
    common::serve(layer).await
}

#[tokio::test]
async fn a_supervised_task_that_panics_is_unhealthy_until_restarted() {
    use tower_vitals::checks::TaskCheck;
    let consumer = TaskCheck::new();
    let server = serve_one("consumer", consumer.clone()).await;
    let (crash, crashed) = tokio::sync::oneshot::channel::<()>();
    consumer.spawn(async move {
        if crashed.await.is_ok() {
            panic!("poisoned message 42");
        }
    });
    shown(&server, "healthy").await;
    crash.send(()).unwrap();
    let dead = shown(&server, "unhealthy").await;
    let message = dead["message"].as_str().unwrap();
    assert!(
        message.starts_with("panicked ") && message.ends_with(" ago: poisoned message 42"),
        "{message}"
    );
    assert_eq!(server.get("/health/ready").await.status, 503);

    let _restarted = consumer.spawn(std::future::pending::<()>());
    let back = shown(&server, "healthy").await;
    assert_eq!(back["metadata"]["starts"], 2);
    assert_eq!(server.get("/health/ready").await.status, 200);
}

#[tokio::test]
async fn a_job_that_stops_succeeding_turns_unhealthy_with_its_last_error() {
    use tower_vitals::checks::JobCheck;
    let export = JobCheck::within(Duration::from_secs(1)).unwrap();
    let server = serve_one("export", export.clone()).await;
    export.succeeded();
    shown(&server, "healthy").await;
    export.failed("bucket refused the upload");
    let failing = shown(&server, "degraded").await;
    assert!(
        failing["message"]
            .as_str()
            .unwrap()
            .contains("bucket refused the upload")
    );
    // No success since: past the window the job is unhealthy, its last error shown.
    let overdue = shown(&server, "unhealthy").await;
    let message = overdue["message"].as_str().unwrap();
    assert!(
        message.starts_with("no success for ") && message.contains("bucket refused"),
        "{message}"
    );
    assert_eq!(server.get("/health/ready").await.status, 503);
    export.succeeded();
    shown(&server, "healthy").await;
}

#[tokio::test]
async fn a_heartbeat_fails_when_its_loop_stops_and_recovers_when_it_beats_again() {
    use tower_vitals::checks::HeartbeatCheck;
    use tower_vitals::health::DetailPolicy;
    use tower_vitals::{HealthLayer, Selector};

    let consumer = HeartbeatCheck::every(Duration::from_millis(100)).unwrap();
    let checker = HealthChecker::builder()
        .register(Check::new("consumer", consumer.clone()).tag("ready"))
        .cache_ttl(Duration::from_millis(20))
        .build()
        .unwrap();
    let layer = HealthLayer::new(checker)
        .details(DetailPolicy::Always)
        .readiness(Selector::tagged("ready"));
    let server = common::serve(layer).await;
    let start_loop = |heartbeat: HeartbeatCheck| {
        tokio::spawn(async move {
            for processed in 0u32.. {
                heartbeat.beat_with([("processed", f64::from(processed))]);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    let until = |status| shown(&server, status);

    let worker = start_loop(consumer.clone());
    let alive = until("healthy").await;
    assert!(alive["metadata"]["beats"].as_u64().unwrap() >= 1, "{alive}");
    assert_eq!(server.get("/health/ready").await.status, 200);

    worker.abort(); // the consumer dies silently
    let dead = until("unhealthy").await;
    let message = dead["message"].as_str().unwrap();
    assert!(
        message.starts_with("no heartbeat for ") && message.ends_with("expected every 100ms"),
        "{message}"
    );
    assert_eq!(server.get("/health/ready").await.status, 503);
    // The same figures on /metrics, one gauge family labelled by component and figure; the age
    // is past the 100 ms the check expects, as the status says.
    let scrape = server.get("/metrics").await;
    assert_eq!(scrape.status, 200);
    let text = String::from_utf8(scrape.body).unwrap();
    let figure = |name: &str| -> f64 {
        let series =
            format!(r#"vitals_health_component_figure{{component="consumer",figure="{name}"}} "#);
        let line = text.lines().find(|line| line.starts_with(&series));
        line.unwrap_or_else(|| panic!("no {series} in\n{text}"))[series.len()..]
            .parse()
            .unwrap()
    };
    assert!(figure("last_beat_age_seconds") > 0.1, "{text}");
    let processed = dead["metadata"]["processed"].as_f64().unwrap();
    assert_eq!(
        figure("processed"),
        processed,
        "the loop's figure, as in /health"
    );
    assert!(text.contains("# TYPE vitals_health_component_figure gauge\n"));

    let _worker = start_loop(consumer);
    until("healthy").await;
    assert_eq!(server.get("/health/ready").await.status, 200);
}
