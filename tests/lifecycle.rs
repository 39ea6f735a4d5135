//! Liveness the application can break, and the drain's phase in `/health` and `/metrics`, over a
//! real Axum server.
#![cfg(feature = "axum")]

mod common;

use std::time::Duration;

use tower_vitals::health::DetailPolicy;
use tower_vitals::{Drain, HealthChecker, HealthLayer, Phase};

fn checker() -> HealthChecker {
    HealthChecker::builder()
        .check("db", || async {})
        .build()
        .unwrap()
}

fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let (name, value) = line.rsplit_once(' ')?;
        (name == series).then(|| value.parse().unwrap())
    })
}

#[tokio::test]
async fn a_process_marked_broken_fails_liveness_with_its_reason_until_marked_alive() {
    let checker = checker();
    let server =
        common::serve(HealthLayer::new(checker.clone()).details(DetailPolicy::Always)).await;
    assert_eq!(server.get("/health/live").await.status, 200);

    checker.mark_broken("connection pool poisoned (dsn postgres://app:s3cret@db/app)");
    let live = server.get("/health/live").await;
    assert_eq!(live.status, 503);
    let body = live.json();
    assert_eq!(body["status"], "unhealthy");
    let reason = body["reason"].as_str().unwrap();
    assert!(reason.starts_with("connection pool poisoned"), "{reason}");
    assert!(!reason.contains("s3cret"), "redacted: {reason}");
    assert_eq!(
        server.get("/health/ready").await.status,
        200,
        "readiness is the checks' business"
    );
    let detail = server.get("/health").await.json();
    assert_eq!(detail["lifecycle"]["phase"], "serving");
    assert_eq!(detail["lifecycle"]["broken"], reason);
    let metrics = String::from_utf8(server.get("/metrics").await.body).unwrap();
    assert_eq!(sample(&metrics, "vitals_health_alive"), Some(0.0));

    checker.mark_alive();
    assert_eq!(server.get("/health/live").await.status, 200);
    assert!(
        server
            .get("/health")
            .await
            .json()
            .get("lifecycle")
            .is_none()
    );
    let metrics = String::from_utf8(server.get("/metrics").await.body).unwrap();
    assert_eq!(sample(&metrics, "vitals_health_alive"), Some(1.0));
}

#[tokio::test]
async fn the_drain_phase_and_timings_show_in_health_and_metrics() {
    let checker = checker();
    let drain = Drain::builder(checker.clone())
        .delay(Duration::from_secs(30))
        .budget(Duration::from_secs(20))
        .build()
        .unwrap();
    let server =
        common::serve(HealthLayer::new(checker.clone()).details(DetailPolicy::Always)).await;
    let metrics = String::from_utf8(server.get("/metrics").await.body).unwrap();
    assert_eq!(
        sample(&metrics, r#"vitals_lifecycle_phase{phase="serving"}"#),
        Some(1.0)
    );
    assert_eq!(
        sample(&metrics, "vitals_drain_started_timestamp_seconds"),
        None
    );

    drain.begin();
    assert_eq!(checker.lifecycle().phase, Phase::Draining);
    assert_eq!(server.get("/health/ready").await.status, 503);
    assert_eq!(
        server.get("/orders").await.status,
        200,
        "still serving during the delay"
    );
    let detail = server.get("/health").await.json();
    let lifecycle = &detail["lifecycle"];
    assert_eq!(lifecycle["phase"], "draining");
    assert_eq!(lifecycle["delay_ms"], 30_000);
    assert_eq!(lifecycle["budget_ms"], 20_000);
    assert!(lifecycle["draining_since"].as_str().unwrap().ends_with('Z'));
    let metrics = String::from_utf8(server.get("/metrics").await.body).unwrap();
    assert_eq!(
        sample(&metrics, r#"vitals_lifecycle_phase{phase="draining"}"#),
        Some(1.0)
    );
    assert_eq!(
        sample(&metrics, r#"vitals_lifecycle_phase{phase="serving"}"#),
        Some(0.0)
    );
    assert_eq!(sample(&metrics, "vitals_drain_delay_seconds"), Some(30.0));
    assert_eq!(
        sample(&metrics, "vitals_health_accepting_traffic"),
        Some(0.0)
    );
    assert!(sample(&metrics, "vitals_drain_started_timestamp_seconds").unwrap() > 1.7e9);
}

#[tokio::test]
async fn warm_up_gates_hold_the_startup_probe_and_readiness_until_done() {
    let checker = checker();
    let layer = HealthLayer::new(checker.clone())
        .details(DetailPolicy::Always)
        .startup_path("/health/startup")
        .unwrap();
    let server = common::serve(layer).await;
    let preload = checker.warm_up("cache-preload").unwrap();
    let model = checker.warm_up("model-load").unwrap();

    let startup = server.get("/health/startup").await;
    assert_eq!(startup.status, 503, "the checks pass, the gates do not");
    let body = startup.json();
    assert_eq!(body["started"], false);
    let reason = body["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("warming up: cache-preload (") && reason.contains("), model-load ("),
        "{reason}"
    );
    let ready = server.get("/health/ready").await;
    assert_eq!(ready.status, 503);
    // The same gates, each with how long it has waited by then.
    let ready_reason = ready.json()["reason"].as_str().unwrap().to_owned();
    assert!(
        ready_reason.starts_with("warming up: cache-preload (")
            && ready_reason.contains("), model-load ("),
        "{ready_reason}"
    );
    assert_eq!(
        server.get("/health/live").await.status,
        200,
        "alive meanwhile"
    );
    assert_eq!(server.get("/orders").await.status, 200, "the app serves");
    let detail = server.get("/health").await.json();
    assert_eq!(detail["accepting_traffic"], false);
    let gates = detail["warming_up"].as_array().unwrap();
    assert_eq!(gates.len(), 2);
    assert_eq!(gates[0]["name"], "cache-preload");
    assert!(gates[0]["pending_ms"].as_f64().unwrap() >= 0.0);
    let metrics = String::from_utf8(server.get("/metrics").await.body).unwrap();
    assert_eq!(
        sample(&metrics, "vitals_health_accepting_traffic"),
        Some(0.0)
    );
    assert!(
        sample(
            &metrics,
            r#"vitals_health_warm_up_pending_seconds{gate="model-load"}"#
        )
        .is_some()
    );

    preload.done();
    let startup = server.get("/health/startup").await;
    assert_eq!(startup.status, 503);
    let reason = startup.json()["reason"].as_str().unwrap().to_owned();
    assert!(reason.starts_with("warming up: model-load ("), "{reason}");

    model.done();
    assert_eq!(server.get("/health/startup").await.status, 200);
    assert_eq!(server.get("/health/ready").await.status, 200);
    let detail = server.get("/health").await.json();
    assert!(detail.get("warming_up").is_none());
    let metrics = String::from_utf8(server.get("/metrics").await.body).unwrap();
    assert!(!metrics.contains("vitals_health_warm_up_pending_seconds"));

    // A gate opened after start (a reload) holds readiness again; the startup probe has
    // latched. A gate whose work failed (dropped undone) holds it for good.
    let reload = checker.warm_up("cache-reload").unwrap();
    assert_eq!(server.get("/health/ready").await.status, 503);
    assert_eq!(server.get("/health/startup").await.status, 200);
    drop(reload);
    let ready = server.get("/health/ready").await;
    assert_eq!(ready.status, 503);
    let reason = ready.json()["reason"].as_str().unwrap().to_owned();
    assert!(reason.ends_with(", abandoned)"), "{reason}");
}
