//! The webhook notifier against a real local HTTP receiver.
#![cfg(feature = "http-client")]

mod common;
#[path = "support/exposition_tools.rs"]
mod exposition_tools;
#[path = "support/skip.rs"]
mod skip;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;
use parking_lot::Mutex;
use tower_vitals::{Check, HealthChecker, HealthLayer, HealthStatus, WebhookNotifier};

/// A receiver that refuses the first `refusals` requests with 503 and keeps the bodies of the
/// rest.
async fn receiver(
    refusals: u32,
) -> (
    common::Server,
    Arc<Mutex<Vec<serde_json::Value>>>,
    Arc<AtomicU32>,
) {
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let calls = Arc::new(AtomicU32::new(0));
    let (kept, counted) = (bodies.clone(), calls.clone());
    let app = Router::new().route(
        "/hooks",
        post(move |body: axum::body::Bytes| {
            let (kept, counted) = (kept.clone(), counted.clone());
            async move {
                if counted.fetch_add(1, Ordering::SeqCst) < refusals {
                    return StatusCode::SERVICE_UNAVAILABLE;
                }
                kept.lock().push(serde_json::from_slice(&body).unwrap());
                StatusCode::NO_CONTENT
            }
        }),
    );
    (common::serve_router(app).await, bodies, calls)
}

/// The status changes of `runs` runs of `check`, as a checker's listener hears them (each run
/// in its own task, a report after the last one's end).
async fn changes_of<F>(check: F, runs: usize) -> Vec<tower_vitals::StatusChange>
where
    F: Fn() -> std::future::Ready<HealthStatus> + Send + Sync + 'static,
{
    let heard = Arc::new(Mutex::new(Vec::new()));
    let log = heard.clone();
    let checker = HealthChecker::builder()
        .register(Check::new("db", check).retries(0))
        .on_change(move |change| log.lock().push(change.clone()))
        .cache_ttl(Duration::ZERO)
        .build()
        .unwrap();
    for _ in 0..runs {
        report_after_refresh(&checker).await;
    }
    heard.lock().clone()
}

/// A report, then a yield so the refresh it may have started (in a task of its own) ends.
async fn report_after_refresh(checker: &HealthChecker) {
    checker.report().await;
    tokio::task::yield_now().await;
}

/// A check answering healthy, unhealthy, healthy, … on successive runs.
fn flapping() -> impl Fn() -> std::future::Ready<HealthStatus> + Send + Sync + 'static {
    let runs = AtomicU32::new(0);
    move || {
        let n = runs.fetch_add(1, Ordering::SeqCst);
        std::future::ready(if n.is_multiple_of(2) {
            HealthStatus::Healthy
        } else {
            HealthStatus::Unhealthy
        })
    }
}

async fn wait_for(mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() && started.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A checker of one flapping check, `db`, run on every report, heard by `webhook`.
fn flapping_checker(webhook: &WebhookNotifier) -> HealthChecker {
    HealthChecker::builder()
        .register(Check::new("db", flapping()).retries(0))
        .on_change(webhook.listener())
        .cache_ttl(Duration::ZERO)
        .build()
        .unwrap()
}

#[tokio::test]
async fn changes_are_batched_posted_and_retried_until_accepted() {
    let (server, bodies, calls) = receiver(2).await;
    let webhook = WebhookNotifier::builder(&server.url("/hooks"))
        .retries(3, Duration::from_millis(20))
        .batch(10, Duration::from_millis(300))
        .build()
        .unwrap();
    let checker = flapping_checker(&webhook);
    for _ in 0..3 {
        report_after_refresh(&checker).await; // healthy (first result), unhealthy, healthy
    }
    wait_for(|| webhook.stats().delivered_batches == 1).await;

    let stats = webhook.stats();
    assert_eq!((stats.delivered_batches, stats.delivered_events), (1, 3));
    assert_eq!(
        (stats.attempts, stats.failed_batches, stats.dropped_events),
        (3, 0, 0)
    );
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "two refusals, then accepted"
    );
    let body = bodies.lock()[0].clone();
    assert_eq!(body["source"], "tower-vitals");
    let events = body["events"].as_array().unwrap();
    let steps: Vec<_> = events
        .iter()
        .map(|e| (e["from"].clone(), e["to"].clone()))
        .collect();
    assert_eq!(
        steps,
        [
            (serde_json::Value::Null, "healthy".into()),
            ("healthy".into(), "unhealthy".into()),
            ("unhealthy".into(), "healthy".into()),
        ]
    );
    assert_eq!(events[0]["check"], "db");
    assert!(events[0]["at"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test]
async fn an_unreachable_receiver_costs_a_failed_batch_not_the_checks() {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = closed.local_addr().unwrap();
    drop(closed);
    let webhook = WebhookNotifier::builder(&format!("http://{address}/hooks"))
        .retries(2, Duration::from_millis(10))
        .batch(10, Duration::from_millis(50))
        .build()
        .unwrap();
    let checker = flapping_checker(&webhook);
    checker.report().await;
    wait_for(|| webhook.stats().failed_batches == 1).await;
    let stats = webhook.stats();
    assert_eq!(
        (
            stats.failed_batches,
            stats.attempts,
            stats.delivered_batches
        ),
        (1, 3, 0)
    );
}

#[tokio::test]
async fn a_receiver_that_never_answers_holds_up_no_check() {
    // Accepts, reads nothing, answers nothing: each post waits out the hook's 30 s timeout.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = silent.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        loop {
            let (stream, _) = silent.accept().await.unwrap();
            open.push(stream);
        }
    });
    let webhook = WebhookNotifier::builder(&format!("http://{address}/hooks"))
        .timeout(Duration::from_secs(30))
        .batch(1, Duration::from_millis(1))
        .build()
        .unwrap();
    let checker = flapping_checker(&webhook);
    // Three changes, each posted to a receiver that holds it for 30 s: reports that waited
    // for the hook would take minutes; the guard is far below that, and far above a report.
    for _ in 0..3 {
        tokio::time::timeout(Duration::from_secs(10), checker.report())
            .await
            .expect("a report waited for the webhook");
    }
    wait_for(|| webhook.stats().attempts >= 1).await;
    held.abort();
}

#[tokio::test]
async fn a_full_queue_drops_and_counts() {
    let (server, _bodies, _calls) = receiver(0).await;
    let webhook = WebhookNotifier::builder(&server.url("/hooks"))
        .queue(2)
        .batch(1, Duration::from_millis(1))
        .build()
        .unwrap();
    let changes = changes_of(flapping(), 10).await;
    assert_eq!(changes.len(), 10);
    // The current-thread runtime runs no delivery while this loop does not yield.
    let listener = webhook.listener();
    for change in &changes {
        listener(change);
    }
    assert_eq!(webhook.stats().dropped_events, 8);
    wait_for(|| webhook.stats().delivered_events == 2).await;
    assert_eq!(webhook.stats().delivered_events, 2);
    // https:// needs the `tls` feature; other schemes are never posted to.
    let https = WebhookNotifier::builder("https://example.com").build();
    assert_eq!(https.is_ok(), cfg!(feature = "tls"));
    assert!(
        WebhookNotifier::builder("ftp://example.com")
            .build()
            .is_err()
    );
}

/// Healthy, unhealthy, … for the first ten runs (ten changes), then unhealthy for good.
fn ten_changes() -> impl Fn() -> std::future::Ready<HealthStatus> + Send + Sync + 'static {
    let runs = AtomicU32::new(0);
    move || {
        let n = runs.fetch_add(1, Ordering::SeqCst);
        std::future::ready(if n < 10 && n.is_multiple_of(2) {
            HealthStatus::Healthy
        } else {
            HealthStatus::Unhealthy
        })
    }
}

#[tokio::test]
async fn metrics_show_each_notifiers_figures_by_receiver_host_only() {
    let (receiving, _bodies, _calls) = receiver(0).await;
    let small = WebhookNotifier::builder(&receiving.url("/hooks?token=s3cr3t-path"))
        .queue(2)
        .batch(1, Duration::from_millis(1))
        .build()
        .unwrap();
    let large = WebhookNotifier::builder(&receiving.url("/hooks"))
        .build()
        .unwrap();
    let changes = changes_of(ten_changes(), 10).await;
    assert_eq!(changes.len(), 10);
    // The current-thread runtime delivers nothing while this loop does not yield.
    let (to_small, to_large) = (small.listener(), large.listener());
    for change in &changes {
        to_small(change);
        to_large(change);
    }
    let checker = HealthChecker::builder()
        .check("db", || async {})
        .build()
        .unwrap();
    let queued = small.stats();
    assert_eq!(
        (queued.queued, queued.queue_capacity, queued.dropped_events),
        (2, 2, 8)
    );
    assert_eq!(large.stats().queued, 10);
    wait_for(|| small.stats().delivered_events == 2 && large.stats().delivered_events == 10).await;

    let server = common::serve(HealthLayer::new(checker).webhook(&small).webhook(&large)).await;
    let text = String::from_utf8(server.get("/metrics").await.body).unwrap();
    let host = receiving.addr.to_string();
    for line in [
        format!("vitals_webhook_events_total{{receiver=\"{host}\",outcome=\"delivered\"}} 2"),
        format!("vitals_webhook_events_total{{receiver=\"{host}\",outcome=\"dropped\"}} 8"),
        format!("vitals_webhook_events_total{{receiver=\"{host} #2\",outcome=\"delivered\"}} 10"),
        format!("vitals_webhook_events_total{{receiver=\"{host} #2\",outcome=\"dropped\"}} 0"),
        format!("vitals_webhook_batches_total{{receiver=\"{host}\",outcome=\"delivered\"}} 2"),
        format!("vitals_webhook_batches_total{{receiver=\"{host} #2\",outcome=\"delivered\"}} 1"),
        format!("vitals_webhook_batches_total{{receiver=\"{host}\",outcome=\"failed\"}} 0"),
        format!("vitals_webhook_requests_total{{receiver=\"{host}\"}} 2"),
        format!("vitals_webhook_queue_depth{{receiver=\"{host}\"}} 0"),
        format!("vitals_webhook_queue_capacity{{receiver=\"{host}\"}} 2"),
        format!("vitals_webhook_queue_capacity{{receiver=\"{host} #2\"}} 1024"),
    ] {
        assert!(text.lines().any(|l| l == line), "no {line} in\n{text}");
    }
    assert!(
        !text.contains("s3cr3t") && !text.contains("/hooks"),
        "{text}"
    );
    if let Some((passed, said)) = exposition_tools::promtool(&text) {
        assert!(passed && said.trim().is_empty(), "promtool:\n{said}");
    }
}
