//! `/health/history` and `/health/incidents` over a real server: a check that goes down and
//! comes back, read back as a timeline and an incident, and the queries' errors.
#![cfg(feature = "axum")]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use reqwest::Method;
use tower_vitals::health::DetailPolicy;
use tower_vitals::{Check, CheckResult, HealthChecker, HealthLayer, TimelineSettings};

fn checker(up: &Arc<AtomicBool>) -> HealthChecker {
    let up = up.clone();
    let second = Duration::from_secs(1);
    HealthChecker::builder()
        .register(
            Check::new("db", move || {
                let up = up.load(Ordering::SeqCst);
                async move {
                    if up {
                        CheckResult::healthy()
                    } else {
                        CheckResult::unhealthy(
                            "connection refused to postgres://app:s3cret@db:5432",
                        )
                    }
                }
            })
            .retries(0),
        )
        .check("cache", || async {})
        .cache_ttl(Duration::ZERO)
        .timeline(TimelineSettings {
            fine: (second, 60 * second),
            coarse: (10 * second, 600 * second),
        })
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_check_that_went_down_and_came_back_shows_in_the_timeline_and_the_incident_log() {
    let up = Arc::new(AtomicBool::new(true));
    let checker = checker(&up);
    let server =
        common::serve(HealthLayer::new(checker.clone()).details(DetailPolicy::Always)).await;
    let probe = || async { server.get("/health/ready").await.status };
    assert_eq!(probe().await, 200);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    up.store(false, Ordering::SeqCst);
    // The healthy result may be served once more while its refresh runs; then it is down.
    let mut answers = Vec::new();
    while answers.last() != Some(&503) && answers.len() < 20 {
        answers.push(probe().await);
    }
    assert!(
        answers.len() <= 3 && answers.last() == Some(&503),
        "{answers:?}"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(probe().await, 503);
    up.store(true, Ordering::SeqCst);
    assert_eq!(probe().await, 200);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(probe().await, 200);

    let reply = server
        .get("/health/history?component=db&since=-10s&step=1s")
        .await;
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let history = reply.json();
    let db = &history["components"][0];
    assert_eq!(db["name"], "db");
    assert_eq!(db["step_seconds"], 1.0);
    let points = db["points"].as_array().unwrap();
    let statuses: Vec<&str> = points.iter().filter_map(|p| p["status"].as_str()).collect();
    assert!(
        statuses.contains(&"unhealthy") && statuses.last() == Some(&"healthy"),
        "{statuses:?}"
    );
    let availability = db["availability_percent"].as_f64().unwrap();
    assert!(
        (20.0..80.0).contains(&availability),
        "about 1.5 s down of ~4 s known: {availability}"
    );
    // One run per probe: the first, those until 503, one more down, two up.
    let runs: u64 = points.iter().map(|p| p["runs"].as_u64().unwrap()).sum();
    assert_eq!(runs, 4 + answers.len() as u64);
    let failures: u64 = points.iter().map(|p| p["failures"].as_u64().unwrap()).sum();
    assert_eq!(failures, 1 + answers.len() as u64);
    assert!(
        points
            .iter()
            .all(|p| p["start"].as_str().unwrap().ends_with('Z'))
    );

    // Every component without ?component; a step of the coarse ring's reads that ring.
    let all = server
        .get("/health/history?since=-5m&step=10s")
        .await
        .json();
    let names: Vec<&str> = all["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["db", "cache"]);
    assert_eq!(all["components"][0]["step_seconds"], 10.0);
    assert_eq!(all["components"][1]["availability_percent"], 100.0);

    the_incident_stays_after_recovery(&server, 2 + answers.len() as u64).await;
}

/// The one incident of `db`, from healthy to unhealthy and back, its reason redacted: `runs`
/// runs, the failing ones and the recovering one.
async fn the_incident_stays_after_recovery(server: &common::Server, runs: u64) {
    let incidents = server.get("/health/incidents").await.json();
    let incidents = incidents["incidents"].as_array().unwrap();
    assert_eq!(incidents.len(), 1, "{incidents:?}");
    let db = &incidents[0];
    assert_eq!(db["component"], "db");
    assert_eq!(
        (db["from"].as_str(), db["to"].as_str()),
        (Some("healthy"), Some("unhealthy"))
    );
    assert!(db["end"].is_string(), "it stays after recovery: {db}");
    let lasted = db["duration_ms"].as_u64().unwrap();
    assert!((1400..3000).contains(&lasted), "{lasted}");
    assert_eq!(db["runs"], runs);
    let reason = db["reason"].as_str().unwrap();
    assert!(
        reason.contains("connection refused") && !reason.contains("s3cret"),
        "{reason}"
    );
    let cache = server
        .get("/health/incidents?component=cache&since=-1h")
        .await
        .json();
    assert_eq!(cache["incidents"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn bad_queries_are_400_unknown_components_404_and_others_401() {
    let up = Arc::new(AtomicBool::new(true));
    let server = common::serve(HealthLayer::new(checker(&up)).details(DetailPolicy::Always)).await;
    for (path, says) in [
        (
            "/health/history?since=yesterday",
            "since: \"yesterday\" is not an RFC 3339 time",
        ),
        ("/health/history?step=0s", "step: \"0s\" is out of range"),
        (
            "/health/history?since=now&until=-1h",
            "since is after until",
        ),
        ("/health/history?step=1ns", "step: \"1ns\" is out of range"),
        (
            "/health/history?component=db&component=cache",
            "component is given twice",
        ),
        ("/health/incidents?step=1m", "unknown parameter \"step\""),
    ] {
        let reply = server.get(path).await;
        assert_eq!(reply.status, 400, "{path}");
        let error = reply.json()["error"].as_str().unwrap().to_owned();
        assert!(error.contains(says), "{path}: {error}");
    }
    for path in [
        "/health/history?component=nope",
        "/health/incidents?component=nope",
    ] {
        assert_eq!(server.get(path).await.status, 404, "{path}");
    }
    let head = server.send(Method::HEAD, "/health/history").await;
    assert_eq!((head.status, head.body.len()), (200, 0));
    assert_eq!(
        server.send(Method::POST, "/health/incidents").await.status,
        405
    );

    let private = common::serve(HealthLayer::new(checker(&up))).await;
    for path in ["/health/history", "/health/incidents"] {
        let reply = private.get(path).await;
        assert_eq!(reply.status, 401, "{path}");
        assert_eq!(reply.header("www-authenticate"), "Bearer");
        // No token is configured: the answer says how to turn details on, not to send one.
        let error = reply.json()["error"].as_str().unwrap().to_owned();
        assert!(
            error.starts_with("details are off for every client"),
            "{error}"
        );
    }
    let guarded = common::serve(
        HealthLayer::new(checker(&up)).details(DetailPolicy::bearer_token("t0ken").unwrap()),
    )
    .await;
    let error = guarded.get("/health/history").await.json()["error"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        error.contains("send Authorization: Bearer <token>"),
        "{error}"
    );
}

#[tokio::test]
async fn request_traffic_over_time_comes_with_the_components() {
    use tower_vitals::{MetricsCollector, MetricsLayer};
    let second = Duration::from_secs(1);
    let collector = MetricsCollector::builder()
        .traffic_history(TimelineSettings {
            fine: (second, 60 * second),
            coarse: (10 * second, 600 * second),
        })
        .build()
        .unwrap();
    let up = Arc::new(AtomicBool::new(true));
    let app = axum::Router::new()
        .route("/", axum::routing::get(|| async { "home" }))
        .route(
            "/boom",
            axum::routing::get(|| async { axum::http::StatusCode::INTERNAL_SERVER_ERROR }),
        )
        .layer(MetricsLayer::new(collector.clone()));
    let health = HealthLayer::new(checker(&up))
        .metrics(collector)
        .details(DetailPolicy::Always);
    let server =
        common::serve_router(axum::Router::new().fallback_service(health.around(app))).await;
    for i in 0..12 {
        server.get(if i % 4 == 0 { "/boom" } else { "/" }).await;
    }
    let history = server
        .get("/health/history?since=-20s&step=1s")
        .await
        .json();
    let traffic = &history["traffic"];
    assert_eq!(traffic["step_seconds"], 1.0);
    let points = traffic["points"].as_array().unwrap();
    let sum = |key: &str| points.iter().map(|p| p[key].as_u64().unwrap()).sum::<u64>();
    assert_eq!(
        (sum("requests"), sum("failures")),
        (12, 3),
        "health paths are not traffic"
    );
    assert!(points.iter().any(|p| p["p95_ms"].as_f64().is_some()));
    let one = server.get("/health/history?component=db").await.json();
    assert!(one.get("traffic").is_none(), "only without ?component");

    // The process, sampled every 10 s from the first gathering on (the first sample at once).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let history = server.get("/health/history?since=-1m").await.json();
    let process = &history["process"];
    assert_eq!(process["step_seconds"], 10.0);
    let points = process["points"].as_array().unwrap();
    if cfg!(target_os = "linux") {
        let rss = points.iter().filter_map(|p| p["rss_bytes"].as_u64()).max();
        assert!(rss.is_some_and(|rss| rss > 1_000_000), "{process}");
    }
}
