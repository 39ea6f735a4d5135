//! Settings updated at run time through a real server: `HEALTH_CONFIG_FILE` rewritten raises a
//! check's timeout and disables a component, and both show in `/health` at the next look at
//! the file, with the history and incidents kept; a file with `HEALTH_CHECK_TIMEOUT_MS=0` is
//! refused whole (the variable and value named in `/health`, counted on `/metrics`, logged
//! once) while the settings before it keep running; SIGHUP reads the file again. Who is shown
//! details follows the file too, and a bearer token rotated in its own file.
#![cfg(feature = "axum")]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use serde_json::Value;
use tower_vitals::health::DetailPolicy;
use tower_vitals::{HealthConfig, Setup};

/// Writes `text` to `path` as Kubernetes updates a mounted ConfigMap: a new file renamed
/// over the old one, so a reader never sees half of it.
fn write(path: &Path, text: &str) {
    let next = path.with_extension("next");
    std::fs::write(&next, text).unwrap();
    std::fs::rename(&next, path).unwrap();
}

async fn health(server: &common::Server) -> Value {
    server.get("/health").await.json()
}

/// Asks `/health` until `done` holds (at most 10 s); the answer, and how long it took.
async fn until(server: &common::Server, done: impl Fn(&Value) -> bool) -> (Value, Duration) {
    let started = Instant::now();
    loop {
        let body = health(server).await;
        if done(&body) {
            return (body, started.elapsed());
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never came: {body:#}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn component<'a>(body: &'a Value, name: &str) -> Option<&'a Value> {
    body["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
}

#[tokio::test(flavor = "current_thread")]
async fn a_rewritten_file_applies_and_a_bad_one_is_refused_whole() {
    let (log, _guard) = common::Captured::install(tracing::Level::INFO);
    let dir = std::env::temp_dir().join(format!("tower-vitals-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("health.env");
    write(&file, "# the ConfigMap\nHEALTH_CHECK_TIMEOUT_MS=100\n");
    let config = HealthConfig::from_vars([
        ("HEALTH_CONFIG_FILE", file.to_str().unwrap()),
        ("HEALTH_CONFIG_POLL_MS", "100"),
        ("HEALTH_CHECK_CACHE_TTL_MS", "100"),
    ])
    .unwrap();
    let vitals = Setup::builder()
        .config(config)
        .check("db", || tokio::time::sleep(Duration::from_millis(300)))
        .check("cache", || async {})
        .details(DetailPolicy::Always)
        .build()
        .unwrap();
    let app = vitals.around(Router::new().route("/", get(|| async { "app" })));
    let server = common::serve_wrapped(app).await;

    // The file as read at start: db times out after 100 ms.
    let (body, _) = until(&server, |b| {
        component(b, "db").is_some_and(|db| db["status"] == "unhealthy")
    })
    .await;
    assert_eq!(body["settings"]["source"], file.to_str().unwrap());
    assert_eq!(body["settings"]["applied"], 1);
    let cache_runs = component(&body, "cache").unwrap()["history"]["runs"]
        .as_u64()
        .unwrap();
    assert!(cache_runs >= 1);

    // Raised and disabled by rewriting the file.
    write(
        &file,
        "HEALTH_CHECK_TIMEOUT_MS: 1000\nHEALTH_CHECK_ENABLED_COMPONENTS=db\n",
    );
    let (body, took) = until(&server, |b| {
        component(b, "db").is_some_and(|db| db["status"] == "healthy")
            && component(b, "cache").is_none()
    })
    .await;
    println!(
        "a rewritten file showed in /health after {} ms (the file is looked at every 100 ms)",
        took.as_millis()
    );
    assert_eq!(body["settings"]["applied"], 2);
    let incidents = server.get("/health/incidents").await.json();
    assert!(
        incidents["incidents"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["component"] == "db"),
        "the incident is kept: {incidents:#}"
    );
    let history = server.get("/health/history?component=cache").await;
    assert_eq!(history.status, 200, "the disabled check's history is kept");

    // A bad value: refused whole, named, the settings before it still running.
    write(&file, "HEALTH_CHECK_TIMEOUT_MS=0\n");
    let (body, _) = until(&server, |b| !b["settings"]["refusal"].is_null()).await;
    let refusal = body["settings"]["refusal"]["error"].as_str().unwrap();
    assert_eq!(
        refusal,
        "HEALTH_CHECK_TIMEOUT_MS=\"0\": out of range (1 to 60000 ms)"
    );
    assert_eq!(
        component(&body, "db").unwrap()["status"],
        "healthy",
        "1000 ms still"
    );
    assert!(component(&body, "cache").is_none(), "still disabled");
    for _ in 0..5 {
        // Five more looks at the same file: still refused, logged once.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let metrics = String::from_utf8(server.get("/metrics").await.body).unwrap();
    assert!(
        metrics.contains("vitals_health_settings_refused 1\n"),
        "{metrics}"
    );
    assert!(metrics.contains("vitals_health_settings_changes_total{outcome=\"refused\"} 1\n"));
    assert!(metrics.contains("vitals_health_settings_changes_total{outcome=\"applied\"} 2\n"));

    // SIGHUP reads the file again though it did not change: refused again, not logged again.
    let status = std::process::Command::new("kill")
        .args(["-HUP", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    until(&server, |b| b["settings"]["refused"] == 2).await;
    let refusals = log.text().matches("health settings refused").count();
    assert_eq!(refusals, 1, "{}", log.text());
    assert!(log.text().contains("SIGHUP: health settings read again"));

    // Fixed: applied, the refusal gone, the component back.
    write(&file, "HEALTH_CHECK_TIMEOUT_MS=1000\n");
    let (body, _) = until(&server, |b| {
        b["settings"]["refusal"].is_null() && component(b, "cache").is_some()
    })
    .await;
    assert_eq!(body["settings"]["applied"], 3);
    let metrics = String::from_utf8(server.get("/metrics").await.body).unwrap();
    assert!(metrics.contains("vitals_health_settings_refused 0\n"));
    std::fs::remove_dir_all(&dir).unwrap();
    a_bad_file_at_start_fails_the_build();
    who_is_shown_details_follows_the_file_and_a_rotated_token().await;
    let text = log.text();
    assert!(
        text.contains("HEALTH_DETAILS_TOKEN_FILE"),
        "the refusals logged: {text}"
    );
    assert!(!text.contains("t0ken"), "no token in the log: {text}");
}

/// A file that does not validate at start fails the build, naming the variable, as a bad
/// environment variable does; so does a setting read at start only that differs. (Called by
/// the test above, on its thread: `tracing` caches a log call site's interest, so a refusal
/// logged first on a thread without the test's subscriber would hide it from that test.)
fn a_bad_file_at_start_fails_the_build() {
    let dir = std::env::temp_dir().join(format!("tower-vitals-reload-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("health.env");
    let build = |text: &str| {
        write(&file, text);
        let config = HealthConfig::from_vars([
            ("HEALTH_CONFIG_FILE", file.to_str().unwrap()),
            ("HEALTH_READY_PATH", "/readyz"),
        ])
        .unwrap();
        Setup::builder()
            .config(config)
            .check("db", || async {})
            .build()
            .map(drop)
            .map_err(|e| e.to_string())
    };
    assert_eq!(
        build("HEALTH_CHECK_RETRY_COUNT=11").unwrap_err(),
        "HEALTH_CHECK_RETRY_COUNT=\"11\": out of range (0 to 10)"
    );
    assert!(
        build("HEALTH_READY_PATH=/ready")
            .unwrap_err()
            .contains("read at start only")
    );
    assert!(
        build("just words")
            .unwrap_err()
            .contains("HEALTH_CONFIG_FILE line 1")
    );
    assert!(
        build("HEALTH_CHECK_ENABLED_COMPONENTS=dbb")
            .unwrap_err()
            .contains("\"dbb\"")
    );
    assert!(build("HEALTH_READY_PATH=/readyz\nHEALTH_CHECK_RETRY_COUNT=2").is_ok());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `/health` as a client with `Authorization: Bearer <token>` sees it.
async fn health_as(server: &common::Server, token: &str) -> Value {
    let response = server
        .client
        .get(server.url("/health"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    common::Reply::read(response).await.json()
}

/// Asks `/health` with `token` until `done` holds (a hang guard of 10 s).
async fn until_as(server: &common::Server, token: &str, done: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let body = health_as(server, token).await;
        if done(&body) {
            return body;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never came: {body:#}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn detailed(body: &Value) -> bool {
    body.get("components").is_some()
}

/// Who is shown details, set by the file: `always`, then `when_authorized` with the token in
/// its own file, rotated; refusals named; taken out, the code's policy again. (Awaited by the
/// first test, on its thread, for the reason `a_bad_file_at_start_fails_the_build` gives.)
async fn who_is_shown_details_follows_the_file_and_a_rotated_token() {
    let dir = std::env::temp_dir().join(format!("tower-vitals-shown-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (file, token) = (dir.join("health.env"), dir.join("token"));
    write(&file, "HEALTH_CHECK_TIMEOUT_MS=500\n");
    write(&token, "first-t0ken\n");
    let config = HealthConfig::from_vars([
        ("HEALTH_CONFIG_FILE", file.to_str().unwrap()),
        ("HEALTH_CONFIG_POLL_MS", "100"),
    ])
    .unwrap();
    let vitals = Setup::builder()
        .config(config)
        .check("db", || async {})
        .build()
        .unwrap();
    let app = vitals.around(Router::new().route("/", get(|| async { "app" })));
    let server = common::serve_wrapped(app).await;
    assert!(
        !detailed(&health(&server).await),
        "the code's policy: never"
    );

    // Shown to all by the file.
    write(&file, "HEALTH_SHOW_DETAILS=always\n");
    let (body, took) = until(&server, detailed).await;
    println!(
        "HEALTH_SHOW_DETAILS=always held {} ms after the write",
        took.as_millis()
    );
    assert_eq!(body["components"][0]["name"], "db");

    // Then only with the token from its file; components' names to all.
    let token_path = token.to_str().unwrap();
    write(
        &file,
        &format!(
            "HEALTH_SHOW_DETAILS=when_authorized\nHEALTH_SHOW_COMPONENTS=always\nHEALTH_DETAILS_TOKEN_FILE={token_path}\n"
        ),
    );
    let body = until(&server, |b| b["components"][0].get("history").is_none())
        .await
        .0;
    assert_eq!(
        body["components"][0]["status"], "healthy",
        "names and statuses: {body:#}"
    );
    let body = health_as(&server, "first-t0ken").await;
    assert!(body["components"][0].get("history").is_some(), "{body:#}");
    assert!(
        health_as(&server, "wrong").await["components"][0]
            .get("history")
            .is_none()
    );

    // The token rotated in its file (as a Secret's volume is updated): followed.
    write(&token, "second-t0ken\n");
    until_as(&server, "second-t0ken", |b| {
        b["components"][0].get("history").is_some()
    })
    .await;
    let old = health_as(&server, "first-t0ken").await;
    assert!(
        old["components"][0].get("history").is_none(),
        "the old token no longer: {old:#}"
    );

    // when_authorized without a token file: refused whole, named, the policy before kept.
    write(&file, "HEALTH_SHOW_DETAILS=when_authorized\n");
    let body = until_as(&server, "second-t0ken", |b| {
        !b["settings"]["refusal"].is_null()
    })
    .await;
    assert_eq!(
        body["settings"]["refusal"]["error"],
        "HEALTH_SHOW_DETAILS=\"when_authorized\": needs HEALTH_DETAILS_TOKEN_FILE (the bearer token's file)"
    );
    assert!(
        body["components"][0].get("history").is_some(),
        "still shown with the token"
    );
    assert!(
        health(&server).await["components"][0]
            .get("history")
            .is_none()
    );

    // An unreadable token file: refused, the path named, no token anywhere.
    write(
        &file,
        &format!(
            "HEALTH_SHOW_DETAILS=when_authorized\nHEALTH_DETAILS_TOKEN_FILE={token_path}.gone\n"
        ),
    );
    let body = until_as(&server, "second-t0ken", |b| {
        b["settings"]["refusal"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("cannot be read"))
    })
    .await;
    let error = body["settings"]["refusal"]["error"].as_str().unwrap();
    assert!(
        error.starts_with("HEALTH_DETAILS_TOKEN_FILE=\"***\": cannot be read"),
        "named, its path masked as a secret's variable is: {error}"
    );
    for path in ["/health", "/health/ready", "/metrics"] {
        let reply = server.get(path).await;
        assert!(
            !String::from_utf8_lossy(&reply.body).contains("t0ken"),
            "{path}"
        );
    }

    // The keys taken out: the code's policy again.
    write(&file, "HEALTH_CHECK_TIMEOUT_MS=500\n");
    until(&server, |b| !detailed(b)).await;
    let body = health_as(&server, "second-t0ken").await;
    assert!(!detailed(&body), "{body:#}");
    std::fs::remove_dir_all(&dir).unwrap();
}
