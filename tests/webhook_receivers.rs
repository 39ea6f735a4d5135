//! Webhooks that fit real receivers: a Slack- and a Teams-shaped message, a custom header, an
//! HMAC-SHA256 signature verified by the receiver with Python's own `hmac`, the "restored"
//! message with the incident's duration, and a minimum interval per component.
#![cfg(all(feature = "axum", feature = "http-client"))]

mod common;
#[path = "support/skip.rs"]
mod skip;

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::post;
use http::StatusCode;
use parking_lot::Mutex;
use tower_vitals::{Check, HealthChecker, WebhookFormat, WebhookNotifier};

type Received = Arc<Mutex<Vec<(HeaderMap, String)>>>;

async fn receiver() -> (common::Server, Received) {
    let received: Received = Arc::default();
    let kept = received.clone();
    let app = Router::new().route(
        "/hooks",
        post(move |headers: HeaderMap, body: String| {
            let kept = kept.clone();
            async move {
                kept.lock().push((headers, body));
                StatusCode::OK
            }
        }),
    );
    (common::serve_router(app).await, received)
}

async fn wait_for(received: &Received, posts: usize) {
    for _ in 0..200 {
        if received.lock().len() >= posts {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{} posts, wanted {posts}", received.lock().len());
}

/// HMAC-SHA256 hex of `message` under `key`, by Python's standard library; `None` (a noted
/// skip) without python3.
fn python_hmac(key: &str, message: &str) -> Option<String> {
    if !skip::on_path("python3") {
        skip::unavailable(
            "python3",
            "REQUIRE_PYTHON",
            "not on PATH; it computes the HMAC apart",
        );
        return None;
    }
    let output = Command::new("python3")
        .args([
            "-c",
            "import hashlib,hmac,sys; print(hmac.new(sys.argv[1].encode(), sys.stdin.read().encode(), hashlib.sha256).hexdigest())",
            key,
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(message.as_bytes())?;
            child.wait_with_output()
        })
        .expect("python3 runs");
    Some(String::from_utf8(output.stdout).unwrap().trim().to_owned())
}

/// A check `name` that fails with `message` while `down` is set, heard by `webhooks`.
fn switchable(
    name: &str,
    message: &'static str,
    down: &Arc<AtomicBool>,
    webhooks: &[&WebhookNotifier],
) -> HealthChecker {
    let flag = down.clone();
    let mut builder = HealthChecker::builder()
        .register(
            Check::new(name, move || {
                let down = flag.load(Ordering::SeqCst);
                async move { if down { Err::<(), _>(message) } else { Ok(()) } }
            })
            .retries(0),
        )
        .cache_ttl(Duration::ZERO);
    for webhook in webhooks {
        builder = builder.on_change(webhook.listener());
    }
    builder.build().unwrap()
}

#[tokio::test]
async fn a_slack_message_signed_with_a_header_and_a_restored_line() {
    let (server, received) = receiver().await;
    let webhook = WebhookNotifier::builder(&server.url("/hooks"))
        .format(WebhookFormat::Slack)
        .header("Authorization", "Bearer hook-t0ken")
        .signing_secret("s1gning-secret")
        .batch(1, Duration::from_millis(1))
        .build()
        .unwrap();
    assert!(!format!("{webhook:?}").contains("hook-t0ken"));
    let down = Arc::new(AtomicBool::new(false));
    let checker = switchable("payments-db", "connection refused", &down, &[&webhook]);
    checker.report().await; // first result: healthy
    down.store(true, Ordering::SeqCst);
    checker.report().await; // unhealthy
    tokio::time::sleep(Duration::from_millis(1100)).await;
    down.store(false, Ordering::SeqCst);
    checker.report().await; // restored after ~1 s
    wait_for(&received, 3).await;

    let posts = received.lock().clone();
    for (headers, body) in &posts {
        assert_eq!(headers["authorization"], "Bearer hook-t0ken");
        let timestamp = headers["x-vitals-timestamp"].to_str().unwrap();
        let signature = headers["x-vitals-signature"].to_str().unwrap();
        if let Some(expected) = python_hmac("s1gning-secret", &format!("{timestamp}.{body}")) {
            assert_eq!(
                signature,
                format!("sha256={expected}"),
                "the receiver's own HMAC"
            );
        }
        // Slack's incoming-webhook shape: an object with a non-empty string "text".
        let message: serde_json::Value = serde_json::from_str(body).unwrap();
        let text = message["text"].as_str().expect("a text field");
        assert!(
            !text.is_empty() && message.as_object().unwrap().len() == 1,
            "{message}"
        );
    }
    let texts: Vec<String> = posts
        .iter()
        .map(|(_, body)| {
            serde_json::from_str::<serde_json::Value>(body).unwrap()["text"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert!(
        texts[1].contains("payments-db is unhealthy (was healthy): connection refused"),
        "{}",
        texts[1]
    );
    // Down for about 1.1 s: at least a second, in whole seconds.
    assert!(
        texts[2].contains("payments-db restored after "),
        "{}",
        texts[2]
    );
    assert!(!texts[2].contains("after 0s"), "{}", texts[2]);
}

#[tokio::test]
async fn teams_json_restored_and_a_minimum_interval_per_component() {
    let (server, received) = receiver().await;
    let teams = WebhookNotifier::builder(&server.url("/hooks"))
        .format(WebhookFormat::Teams)
        .batch(10, Duration::from_millis(1))
        .build()
        .unwrap();
    let (json_server, json_received) = receiver().await;
    let json = WebhookNotifier::builder(&json_server.url("/hooks"))
        .min_interval(Duration::from_millis(600))
        .batch(10, Duration::from_millis(1))
        .build()
        .unwrap();
    let down = Arc::new(AtomicBool::new(false));
    let checker = switchable("cache", "timeout", &down, &[&teams, &json]);
    // A flapping storm: 1 first result + 8 changes within ~100 ms.
    for i in 0..9 {
        down.store(i % 2 == 1, Ordering::SeqCst);
        checker.report().await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    wait_for(&json_received, 2).await;
    tokio::time::sleep(Duration::from_millis(900)).await;
    let json_posts = json_received.lock().clone();
    let events: Vec<serde_json::Value> = json_posts
        .iter()
        .flat_map(|(_, body)| {
            serde_json::from_str::<serde_json::Value>(body).unwrap()["events"]
                .as_array()
                .unwrap()
                .clone()
        })
        .collect();
    assert_eq!(
        events.len(),
        2,
        "the first result, then the latest after the interval: {events:?}"
    );
    assert_eq!(events[1]["to"], "healthy", "the storm ended healthy");

    let teams_posts = teams.stats();
    assert_eq!(teams_posts.delivered_events, 9);
    let first: serde_json::Value = serde_json::from_str(&received.lock()[0].1).unwrap();
    assert_eq!(first["type"], "message");
    let card = &first["attachments"][0];
    assert_eq!(
        card["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(card["content"]["type"], "AdaptiveCard");
    assert_eq!(card["content"]["body"][0]["type"], "TextBlock");
    let restored = received
        .lock()
        .iter()
        .any(|(_, body)| body.contains("cache restored after"));
    assert!(restored, "a restored line in the Teams card");
}

#[test]
fn bad_headers_and_an_empty_signing_secret_are_configuration_errors() {
    let header = WebhookNotifier::builder("http://127.0.0.1:9/hooks")
        .header("bad header", "x")
        .build()
        .unwrap_err();
    assert_eq!(
        header.to_string(),
        "invalid header \"bad header\": not a valid header name"
    );
    assert!(
        WebhookNotifier::builder("http://127.0.0.1:9/hooks")
            .signing_secret("")
            .build()
            .is_err()
    );
}
