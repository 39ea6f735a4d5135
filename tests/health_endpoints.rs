//! The health endpoints over a real Axum server and a real HTTP client.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use common::{serve, serve_around};
use reqwest::Method;
use tower_vitals::health::DetailPolicy;
use tower_vitals::{Check, CheckResult, HealthChecker, HealthLayer, HealthStatus, Selector};

fn checker(
    checks: impl FnOnce(tower_vitals::HealthCheckerBuilder) -> tower_vitals::HealthCheckerBuilder,
) -> HealthChecker {
    checks(HealthChecker::builder()).build().unwrap()
}

#[tokio::test]
async fn live_ready_and_detailed_answer_json_with_the_documented_headers() {
    let checker = checker(|b| {
        b.check("database", || async {
            CheckResult::healthy().with_metadata("pool_size", 8)
        })
        .register(
            Check::new("cache", || async { Err::<(), _>("connection refused") })
                .critical(false)
                .retries(0),
        )
    });
    let server = serve(HealthLayer::new(checker).details(DetailPolicy::Always)).await;

    let live = server.get("/health/live").await;
    assert_eq!(live.status, 200);
    assert_eq!(live.json(), serde_json::json!({"status": "healthy"}));

    let ready = server.get("/health/ready").await;
    assert_eq!(ready.status, 200, "degraded is ready by default");
    assert_eq!(
        ready.json(),
        serde_json::json!({"status": "degraded", "ready": true})
    );

    let detail = server.get("/health").await;
    assert_eq!(detail.status, 200);
    let report = detail.json();
    assert_eq!(report["status"], "degraded");
    assert_eq!(report["accepting_traffic"], true);
    assert!(report["timestamp"].as_str().unwrap().ends_with('Z'));
    assert!(report["duration_ms"].as_f64().unwrap() >= 0.0);
    let components = report["components"].as_array().unwrap();
    assert_eq!(components.len(), 2);
    assert_eq!(components[0]["name"], "database");
    assert_eq!(components[0]["status"], "healthy");
    assert_eq!(components[0]["metadata"]["pool_size"], 8);
    assert_eq!(components[0]["fresh"], true);
    assert_eq!(components[0]["critical"], true);
    assert_eq!(components[1]["status"], "degraded");
    assert_eq!(components[1]["message"], "connection refused");
    assert_eq!(components[1]["critical"], false);

    for reply in [&live, &ready, &detail] {
        assert_eq!(reply.header("content-type"), "application/json");
        assert_eq!(reply.header("cache-control"), "no-store");
        assert_eq!(
            reply.header("x-health-version"),
            tower_vitals::health::HEALTH_VERSION
        );
    }
}

#[tokio::test]
async fn readiness_is_503_when_a_gating_check_fails_and_200_when_only_others_do() {
    let checker = checker(|b| {
        b.register(Check::new("database", || async { Ok::<_, String>(()) }).tag("ready"))
            .register(Check::new("batch-queue", || async { Err::<(), _>("queue down") }).retries(0))
    });
    let gated = serve(HealthLayer::new(checker.clone()).readiness(Selector::tagged("ready"))).await;
    assert_eq!(gated.get("/health/ready").await.status, 200);
    let detail = gated.get("/health").await;
    assert_eq!(detail.status, 503);
    assert_eq!(detail.json()["status"], "unhealthy");

    let everything = serve(HealthLayer::new(checker)).await;
    let ready = everything.get("/health/ready").await;
    assert_eq!(ready.status, 503);
    assert_eq!(
        ready.json(),
        serde_json::json!({"status": "unhealthy", "ready": false})
    );
    // Kubernetes' ?exclude= leaves a check out of this answer.
    assert_eq!(
        everything
            .get("/health/ready?exclude=batch-queue")
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn verbose_readiness_lists_the_gating_components() {
    let checker = checker(|b| {
        b.register(Check::new("database", || async {}).tag("ready"))
            .check("disk", || async {})
    });
    let server = serve(
        HealthLayer::new(checker)
            .details(DetailPolicy::Always)
            .readiness(Selector::tagged("ready")),
    )
    .await;
    let ready = server.get("/health/ready?verbose").await.json();
    let names: Vec<_> = ready["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].clone())
        .collect();
    assert_eq!(names, ["database"]);
    assert_eq!(
        server.get("/health/ready?verbose=1").await.json()["components"][0]["fresh"],
        true
    );
}

#[tokio::test]
async fn other_methods_get_405_with_allow() {
    let server = serve(HealthLayer::new(checker(|b| b))).await;
    for method in [
        "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "PURGE",
    ] {
        for path in ["/health/live", "/health/ready", "/health"] {
            let reply = server
                .send(Method::from_bytes(method.as_bytes()).unwrap(), path)
                .await;
            assert_eq!(reply.status, 405, "{method} {path}");
            assert_eq!(reply.header("allow"), "GET, HEAD");
            assert_eq!(reply.json()["error"], "method not allowed");
        }
    }
    // The app's own routes keep their methods.
    assert_eq!(server.send(Method::POST, "/orders").await.body, b"created");
}

#[tokio::test]
async fn head_has_the_headers_of_get_and_no_body() {
    let checker = checker(|b| b.check("database", || async {}));
    let server = serve(HealthLayer::new(checker)).await;
    for path in ["/health/live", "/health/ready", "/health"] {
        let get = server.get(path).await;
        let head = server.send(Method::HEAD, path).await;
        assert_eq!(head.status, get.status);
        assert!(head.body.is_empty(), "{path}");
        let length: usize = head.header("content-length").parse().unwrap();
        if path == "/health" {
            // the report's timings vary by a few digits between the two requests
            assert!(
                length.abs_diff(get.body.len()) < 24,
                "{length} vs {}",
                get.body.len()
            );
        } else {
            assert_eq!(length, get.body.len(), "{path}");
        }
        for name in ["content-type", "cache-control", "x-health-version"] {
            assert_eq!(head.header(name), get.header(name));
        }
    }
}

#[tokio::test]
async fn trailing_slashes_are_accepted_and_other_paths_reach_the_app() {
    let server = serve(HealthLayer::new(checker(|b| b))).await;
    assert_eq!(server.get("/health/live/").await.status, 200);
    assert_eq!(server.get("/health/ready/").await.status, 200);
    assert_eq!(server.get("/health/").await.status, 200);

    let orders = server.get("/orders").await;
    assert_eq!(
        (orders.status, orders.body.as_slice()),
        (200, &b"[1,2,3]"[..])
    );
    assert_eq!(orders.header("x-app"), "orders");
    assert!(orders.headers.get("x-health-version").is_none());
    for path in [
        "/health/livez",
        "/healthz",
        "//health/live",
        "/health/live/extra",
        "/nope",
    ] {
        assert_eq!(server.get(path).await.status, 404, "{path}");
    }
}

#[tokio::test]
async fn a_prefix_and_custom_paths_move_the_endpoints() {
    let layer = HealthLayer::new(checker(|b| b))
        .prefix("/internal")
        .unwrap()
        .live_path("/livez")
        .unwrap()
        .ready_path("/readyz")
        .unwrap();
    let server = serve(layer).await;
    assert_eq!(server.get("/internal/livez").await.status, 200);
    assert_eq!(server.get("/internal/readyz").await.status, 200);
    assert_eq!(server.get("/internal/health").await.status, 200);
    assert_eq!(server.get("/health/live").await.status, 404);
}

#[tokio::test]
async fn a_panicking_check_is_one_unhealthy_component_and_the_app_keeps_serving() {
    fn explode() -> HealthStatus {
        panic!("pool poisoned")
    }
    let checker = checker(|b| {
        b.check("healthy", || async {})
            .register(Check::new("poisoned", || async { explode() }).retries(0))
            .cache_ttl(Duration::ZERO)
    });
    let server = serve(HealthLayer::new(checker).details(DetailPolicy::Always)).await;
    for _ in 0..3 {
        let detail = server.get("/health").await;
        assert_eq!(detail.status, 503);
        let report = detail.json();
        assert_eq!(report["components"][0]["status"], "healthy");
        assert_eq!(report["components"][1]["status"], "unhealthy");
        assert_eq!(
            report["components"][1]["message"],
            "check panicked: pool poisoned"
        );
    }
    assert_eq!(server.get("/orders").await.status, 200);
    assert_eq!(server.get("/health/live").await.status, 200);
}

#[tokio::test]
async fn a_hanging_check_is_answered_within_the_deadline() {
    let checker = checker(|b| {
        b.check("fast", || async {})
            .register(
                Check::new("hangs", std::future::pending::<()>)
                    .timeout(Duration::from_secs(30))
                    .retries(0),
            )
            .register(
                Check::new("times-out", std::future::pending::<()>)
                    .timeout(Duration::from_millis(200))
                    .retries(0),
            )
            .deadline(Duration::from_millis(500))
    });
    let server = serve(HealthLayer::new(checker).details(DetailPolicy::Always)).await;
    let started = Instant::now();
    let detail = server.get("/health").await;
    let waited = started.elapsed();
    // Long before the hanging check's 30 s timeout ends its run: the deadline answered it.
    assert!(
        waited < Duration::from_secs(20),
        "answered after {waited:?}"
    );
    assert_eq!(detail.status, 503);
    let report = detail.json();
    let hangs = &report["components"][1];
    assert_eq!(hangs["status"], "unknown", "no result yet");
    assert_eq!(hangs["fresh"], false);
    assert_eq!(hangs["checked_at"], serde_json::Value::Null);
    assert_eq!(
        hangs["message"],
        "no result yet: the first run had not finished after the 500 ms deadline"
    );
    let timed_out = &report["components"][2];
    assert_eq!(timed_out["message"], "timed out after 200 ms");
    assert_eq!(timed_out["fresh"], true);
    assert_eq!(report["components"][0]["status"], "healthy");
}

#[tokio::test]
async fn a_probe_storm_runs_the_check_once() {
    let runs = Arc::new(AtomicU32::new(0));
    let counter = runs.clone();
    let checker = checker(move |b| {
        b.check("database", move || {
            counter.fetch_add(1, Ordering::SeqCst);
            async {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
        .cache_ttl(Duration::from_secs(5))
    });
    let server = Arc::new(serve(HealthLayer::new(checker)).await);
    let probes = (0..200).map(|_| {
        let server = server.clone();
        tokio::spawn(async move { server.get("/health/ready").await.status })
    });
    let statuses = futures_util::future::join_all(probes).await;
    assert!(statuses.into_iter().all(|s| s.unwrap() == 200));
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn marked_not_ready_answers_503_while_liveness_stays_200() {
    let checker = checker(|b| b.check("database", || async {}));
    let server = serve(HealthLayer::new(checker.clone()).details(DetailPolicy::Always)).await;
    checker.mark_not_ready();
    let ready = server.get("/health/ready").await;
    assert_eq!(ready.status, 503);
    assert_eq!(
        ready.json(),
        serde_json::json!({"status": "healthy", "ready": false, "reason": "marked not ready"})
    );
    assert_eq!(server.get("/health/live").await.status, 200);
    assert_eq!(
        server.get("/health").await.json()["accepting_traffic"],
        false
    );
    checker.mark_ready();
    assert_eq!(server.get("/health/ready").await.status, 200);
}

#[tokio::test]
async fn the_degraded_mapping_is_configurable() {
    let checker = checker(|b| {
        b.register(
            Check::new("cache", || async { Err::<(), _>("down") })
                .critical(false)
                .retries(0),
        )
    });
    let layer = HealthLayer::new(checker).status_code(
        HealthStatus::Degraded,
        http::StatusCode::SERVICE_UNAVAILABLE,
    );
    let server = serve(layer).await;
    let ready = server.get("/health/ready").await;
    assert_eq!(ready.status, 503);
    assert_eq!(ready.json()["ready"], false);
}

#[tokio::test]
async fn the_startup_probe_latches_once_its_checks_passed() {
    let ready = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = ready.clone();
    let checker = checker(move |b| {
        b.register(
            Check::new("migrations", move || {
                let done = flag.load(Ordering::SeqCst);
                async move { done }
            })
            .tag("startup")
            .retries(0),
        )
        .check("cache", || async {})
        .cache_ttl(Duration::ZERO)
    });
    let layer = HealthLayer::new(checker)
        .startup_path("/health/startup")
        .unwrap()
        .startup(Selector::tagged("startup"));
    let server = serve(layer).await;
    let starting = server.get("/health/startup").await;
    assert_eq!(starting.status, 503);
    assert_eq!(
        starting.json(),
        serde_json::json!({"status": "unhealthy", "started": false})
    );
    ready.store(true, Ordering::SeqCst);
    assert_eq!(server.get("/health/startup").await.status, 200);
    ready.store(false, Ordering::SeqCst); // a later failure is readiness' business, not startup's
    let started = server.get("/health/startup").await;
    assert_eq!(started.status, 200);
    assert_eq!(
        started.json(),
        serde_json::json!({"status": "started", "started": true})
    );
    // The healthy result may be served once more while its refresh runs; then not ready.
    let mut answers = Vec::new();
    while answers.last() != Some(&503) && answers.len() < 20 {
        answers.push(server.get("/health/ready").await.status);
    }
    assert!(
        answers.len() <= 3 && answers.last() == Some(&503),
        "{answers:?}"
    );
}

#[tokio::test]
async fn there_is_no_startup_probe_unless_asked_for() {
    let server = serve(HealthLayer::new(checker(|b| b))).await;
    assert_eq!(server.get("/health/startup").await.status, 404);
}

#[tokio::test]
async fn a_background_check_is_unknown_until_its_first_run_and_readiness_waits_for_it() {
    let checker = checker(|b| {
        b.register(
            Check::new("warehouse", || async {
                tokio::time::sleep(Duration::from_millis(300)).await;
            })
            .background(Duration::from_secs(60)),
        )
    });
    let server = serve(HealthLayer::new(checker)).await;
    // Unknown (503), not the healthy result its 300 ms run gives: the probe did not run it.
    let ready = server.get("/health/ready?verbose").await;
    assert_eq!(ready.status, 503);
    assert_eq!(ready.json()["status"], "unknown");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(server.get("/health/ready").await.status, 200);
}

#[tokio::test]
async fn details_are_hidden_by_default_and_shown_per_the_policy() {
    let checker = checker(|b| {
        b.register(
            Check::new("payments", || async { Err::<(), _>("connection refused") }).retries(0),
        )
    });
    let public = serve(HealthLayer::new(checker.clone())).await;
    let detail = public.get("/health").await;
    assert_eq!(detail.status, 503, "the status code tells the state");
    assert_eq!(detail.json(), serde_json::json!({"status": "unhealthy"}));
    let verbose = public.get("/health/ready?verbose").await.json();
    assert_eq!(
        verbose,
        serde_json::json!({"status": "unhealthy", "ready": false})
    );
    let reliability = public.get("/health/reliability").await;
    assert_eq!(
        reliability.json(),
        serde_json::json!({"status": "unhealthy"})
    );
    assert_eq!(reliability.header("x-reliability-version"), "1");
    for path in ["/health", "/health/ready?verbose", "/health/reliability"] {
        let body = String::from_utf8(public.get(path).await.body).unwrap();
        assert!(
            !body.contains("payments") && !body.contains("refused"),
            "{path}: {body}"
        );
    }

    let guarded =
        serve(HealthLayer::new(checker).details(DetailPolicy::bearer_token("t0ken").unwrap()))
            .await;
    let send = |token: &'static str| {
        let request = guarded
            .client
            .get(guarded.url("/health"))
            .bearer_auth(token)
            .send();
        async move { common::Reply::read(request.await.unwrap()).await.json() }
    };
    assert_eq!(
        send("t0ken").await["components"][0]["message"],
        "connection refused"
    );
    assert_eq!(
        send("guess").await,
        serde_json::json!({"status": "unhealthy"})
    );
}

/// `HealthLayer::around` a whole router, served by `axum::serve`: the endpoints answer as
/// through `Router::layer`, and the app's responses come back untouched (status, headers,
/// body, `content-length`, its own 404 and 405).
#[tokio::test]
async fn around_the_router_answers_health_and_passes_the_app_through() {
    let server = serve_around(HealthLayer::new(checker(|b| b))).await;
    let live = server.get("/health/live").await;
    assert_eq!(live.status, 200);
    assert_eq!(live.json()["status"], "healthy");
    assert_eq!(server.get("/health/ready/").await.status, 200);
    let refused = server.send(Method::POST, "/health").await;
    assert_eq!(
        (refused.status, refused.header("allow")),
        (405, "GET, HEAD")
    );

    let orders = server.get("/orders").await;
    assert_eq!(orders.status, 200);
    assert_eq!(orders.body, b"[1,2,3]");
    assert_eq!(orders.header("x-app"), "orders");
    assert_eq!(orders.header("content-length"), "7");
    assert_eq!(server.send(Method::POST, "/orders").await.body, b"created");
    assert_eq!(server.get("/nowhere").await.status, 404);
    assert_eq!(server.send(Method::DELETE, "/orders").await.status, 405);
}
