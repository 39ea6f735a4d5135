//! `HttpCheck` against a keyed external API — a stand-in on loopback that answers 200, 401,
//! 429 with `Retry-After: 2`, or 500 as the test says, and counts the calls it gets — judged as
//! an API client would, with the key never shown in any answer, log line or webhook.
#![cfg(feature = "http-client")]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use parking_lot::Mutex;
use tokio::time::Instant;
use tower_vitals::checks::HttpCheck;
use tower_vitals::health::DetailPolicy;
use tower_vitals::{Check, HealthCheck, HealthChecker, HealthLayer, HealthStatus, WebhookNotifier};

/// The key the app holds; set in the environment before anything else runs.
const KEY: &str = "sk-proj-T3stK3y0123456789abcdefghijklmnop";
const VARIABLE: &str = "VITALS_KEYED_API_TEST_KEY";

/// The stand-in API: answers `/v1/models` with the status in `answer`, counts the calls and
/// keeps the `Authorization` header of each.
struct Api {
    server: common::Server,
    answer: Arc<AtomicU16>,
    calls: Arc<AtomicUsize>,
    authorization: Arc<Mutex<Vec<String>>>,
}

async fn api() -> Api {
    let answer = Arc::new(AtomicU16::new(200));
    let calls = Arc::new(AtomicUsize::new(0));
    let authorization = Arc::new(Mutex::new(Vec::new()));
    let (a, c, h) = (answer.clone(), calls.clone(), authorization.clone());
    let app = Router::new().route(
        "/v1/models",
        get(move |headers: HeaderMap| {
            let (a, c, h) = (a.clone(), c.clone(), h.clone());
            async move {
                c.fetch_add(1, Ordering::SeqCst);
                let sent = headers
                    .get("authorization")
                    .map(|v| v.to_str().unwrap().to_owned());
                h.lock().push(sent.unwrap_or_default());
                let status = StatusCode::from_u16(a.load(Ordering::SeqCst)).unwrap();
                let retry = if status == StatusCode::TOO_MANY_REQUESTS {
                    "2"
                } else {
                    "0"
                };
                // An API that echoes the key it refused, as some do.
                (
                    status,
                    [("retry-after", retry)],
                    format!("{{\"error\":\"key {KEY}\"}}"),
                )
            }
        }),
    );
    Api {
        server: common::serve_router(app).await,
        answer,
        calls,
        authorization,
    }
}

impl Api {
    fn answer(&self, status: u16) {
        self.answer.store(status, Ordering::SeqCst);
    }
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

/// Runs in a process of its own, started with the key in its environment as an app's would
/// be (this crate's tests do not write the environment).
#[test]
fn a_keyed_api_is_judged_as_a_client_would_and_its_key_never_shows() {
    const NAME: &str = "a_keyed_api_is_judged_as_a_client_would_and_its_key_never_shows";
    if std::env::var_os(VARIABLE).is_some() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        return runtime.block_on(judged_and_never_shown());
    }
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", NAME, "--nocapture", "--test-threads=1"])
        .env(VARIABLE, KEY)
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert!(
        output.status.success(),
        "the test's own process failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("1 passed"), "{stdout}");
}

async fn judged_and_never_shown() {
    let (log, _guard) = common::Captured::install(tracing::Level::DEBUG);

    let api = api().await;
    let check = HttpCheck::new(&api.server.url("/v1/models"))
        .unwrap()
        .bearer_token_from_env(VARIABLE)
        .expect_status(200..=299);
    let mut shown = Vec::new();

    // 200: healthy, the key sent as a bearer token.
    let ok = check.check().await.unwrap();
    assert_eq!(ok.status(), HealthStatus::Healthy);
    assert_eq!(api.calls(), 1);
    assert_eq!(api.authorization.lock()[0], format!("Bearer {KEY}"));

    // 401: unhealthy as a result, not an error, so the checker does not retry it.
    api.answer(401);
    let refused = check.check().await.unwrap();
    assert_eq!(refused.status(), HealthStatus::Unhealthy);
    let message = refused.message().unwrap();
    assert!(
        message.ends_with(": authentication failed (401 Unauthorized)"),
        "{message}"
    );
    shown.push(message.to_owned());
    api.answer(403);
    let forbidden = check.check().await.unwrap();
    assert!(forbidden.message().unwrap().ends_with("(403 Forbidden)"));
    assert_eq!(api.calls(), 3);

    // 429 with Retry-After: 2 — degraded, and no call until the 2 s are over.
    api.answer(429);
    let asked = Instant::now();
    let limited = check.check().await.unwrap();
    assert_eq!(limited.status(), HealthStatus::Degraded);
    assert_eq!(
        limited.message(),
        Some("rate limited (429 Too Many Requests), retry after 2s")
    );
    assert_eq!(api.calls(), 4);
    api.answer(200);
    // The wait runs from the 429's arrival, after `asked`: a run begun before `asked + 2 s`
    // must not call, however slow this machine is.
    let mut held = 0;
    while held < 50 {
        let begun = Instant::now();
        if begun >= asked + Duration::from_secs(2) {
            break;
        }
        let result = check.check().await.unwrap();
        assert_eq!(api.calls(), 4, "a call during the Retry-After wait");
        assert_eq!(result.status(), HealthStatus::Degraded);
        assert!(result.message().unwrap().contains("; calling again in "));
        held += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(held > 0, "no run fell within the wait");
    // Past the wait (it runs from the 429's arrival, a little after `asked + 2 s`), a run
    // calls again: once, and healthy (a hang guard, not a time limit).
    tokio::time::sleep_until(asked + Duration::from_secs(2)).await;
    let mut after = check.check().await.unwrap();
    for _ in 0..500 {
        if api.calls() > 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        after = check.check().await.unwrap();
    }
    assert_eq!(after.status(), HealthStatus::Healthy);
    assert_eq!(api.calls(), 5);

    // 500: a failure (an error, so the checker retries it).
    api.answer(500);
    let error = check.check().await.unwrap_err().to_string();
    assert!(
        error.ends_with("answered 500 Internal Server Error, expected 200-299"),
        "{error}"
    );
    shown.push(error);

    // The key's variable unset: unhealthy without a call.
    let unset = HttpCheck::new(&api.server.url("/v1/models"))
        .unwrap()
        .bearer_token_from_env("VITALS_KEYED_API_TEST_UNSET");
    let calls = api.calls();
    let missing = unset.check().await.unwrap();
    assert_eq!(
        missing.message(),
        Some("VITALS_KEYED_API_TEST_UNSET is not set")
    );
    assert_eq!(api.calls(), calls);

    // Through an app: every answer, the webhook and the log, while the API refuses the key.
    api.answer(401);
    let (receiver, bodies) = common::webhook_receiver().await;
    let webhook = WebhookNotifier::builder(&receiver.url("/hooks"))
        .batch(1, Duration::from_millis(10))
        .build()
        .unwrap();
    let checker = HealthChecker::builder()
        .register(Check::new("openai", check.clone()))
        .cache_ttl(Duration::ZERO)
        .on_change(webhook.listener())
        .build()
        .unwrap();
    let server = common::serve(HealthLayer::new(checker).details(DetailPolicy::Always)).await;
    let mut answers = Vec::new();
    for _ in 0..1000 {
        let health = server.get("/health").await;
        let unhealthy = health.json()["components"][0]["status"] == "unhealthy";
        answers.push(String::from_utf8(health.body).unwrap());
        if unhealthy && !bodies.lock().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        bodies
            .lock()
            .iter()
            .any(|b| b.contains("authentication failed"))
    );
    for path in [
        "/health/ready",
        "/health/openai",
        "/health/incidents",
        "/health/history",
        "/metrics",
        "/health/reliability",
    ] {
        answers.push(String::from_utf8(server.get(path).await.body).unwrap());
    }
    let incidents = &answers[answers.len() - 4];
    assert!(incidents.contains("authentication failed"), "{incidents}");
    drop(_guard);
    let log = log.text();
    assert!(
        log.contains("health check status changed") && log.contains("authentication failed"),
        "the log holds the change it is searched in: {log}"
    );
    let everything = [answers, bodies.lock().clone(), shown, vec![log]].concat();
    for (i, text) in everything.iter().enumerate() {
        assert!(!text.contains(KEY), "the key in output {i}: {text}");
        assert!(
            !text.contains("T3stK3y"),
            "part of the key in output {i}: {text}"
        );
    }
}
