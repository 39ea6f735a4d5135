//! Requests, checks and clocks as an attacker or an unlucky operator brings them, each through a
//! real server on 127.0.0.1 with a real client: times far outside what is kept, steps of a
//! nanosecond, 500 checks, template text in a component's name, a saturated app behind
//! `ConcurrencyLimit(1)`, a check that blocks its thread. Every answer is a response, bounded.
#![cfg(feature = "axum")]

mod common;
#[path = "support/example.rs"]
mod example;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use tokio::sync::Notify;
use tower_vitals::health::DetailPolicy;
use tower_vitals::{Check, HealthChecker, HealthLayer, HealthStatus, MetricsCollector};

/// The queries of the hardening issue, and more of their kind.
pub const HOSTILE: &[&str] = &[
    "until=2028-12-03T00:00:00Z",
    "since=-100y",
    "since=-100y&until=now",
    "step=1ns",
    "step=0s",
    "until=9999-12-31T23:59:59Z",
    "since=now&until=9999-12-31T23:59:59Z&step=1d",
    "since=-24h&step=1s",
    "since=1900-01-01T00:00:00Z",
    "since=-18446744073709551615s",
    "since=-99999999999999999999y",
    "step=18446744073709551615s",
    "offset=18446744073709551616",
    "since=%FF%FE",
    "component=%00",
];

fn checker_with(count: usize) -> HealthChecker {
    (0..count)
        .fold(HealthChecker::builder(), |builder, i| {
            builder.register(
                Check::new(format!("dependency-{i:03}"), move || async move {
                    if i % 7 == 0 { Err("refused") } else { Ok(()) }
                })
                .retries(0),
            )
        })
        .build()
        .unwrap()
}

fn points(body: &serde_json::Value) -> usize {
    let series = body["components"]
        .as_array()
        .unwrap()
        .iter()
        .chain(body.get("traffic"))
        .chain(body.get("process"));
    series.map(|s| s["points"].as_array().unwrap().len()).sum()
}

#[tokio::test]
async fn times_outside_what_is_kept_are_clamped_or_refused_and_every_answer_is_bounded() {
    let layer = HealthLayer::new(checker_with(500))
        .details(DetailPolicy::Always)
        .metrics(MetricsCollector::new());
    let server = common::serve(layer).await;
    server.get("/health").await;
    let mut largest = 0;
    for query in HOSTILE {
        for endpoint in ["/health/history", "/health/incidents"] {
            let path = format!("{endpoint}?{query}");
            let reply = server.get(&path).await;
            assert!(
                [200, 400, 404].contains(&reply.status),
                "{path}: {}",
                reply.status
            );
            let body = reply.json();
            largest = largest.max(reply.body.len());
            assert!(
                reply.body.len() <= 8 << 20,
                "{path}: {} bytes",
                reply.body.len()
            );
            if reply.status == 200 && endpoint == "/health/history" {
                assert!(points(&body) <= 20_000, "{path}: {} points", points(&body));
                let since = humantime::parse_rfc3339(body["since"].as_str().unwrap()).unwrap();
                let until = humantime::parse_rfc3339(body["until"].as_str().unwrap()).unwrap();
                let now = std::time::SystemTime::now();
                assert!(
                    until <= now + Duration::from_secs(5),
                    "{path}: until clamped"
                );
                assert!(
                    since + Duration::from_secs(86_400 + 5) >= now,
                    "{path}: since clamped to a day back"
                );
            }
            if reply.status == 400 {
                assert!(body["error"].as_str().is_some(), "{path}: says why");
            }
        }
    }
    // A day of 500 components: the step is widened until it fits.
    let day = server.get("/health/history?since=-24h").await;
    let body = day.json();
    assert_eq!(body["components_total"], 500);
    assert_eq!(body["components"].as_array().unwrap().len(), 500);
    assert!(points(&body) <= 20_000, "{}", points(&body));
    let step = body["components"][0]["step_seconds"].as_f64().unwrap();
    eprintln!(
        "500 components: a day is {} bytes at a {step} s step; the largest hostile answer {largest} bytes",
        day.body.len()
    );
}

#[tokio::test]
async fn more_components_than_a_page_holds_are_paged() {
    let layer = HealthLayer::new(checker_with(1200)).details(DetailPolicy::Always);
    let server = common::serve(layer).await;
    let mut seen = Vec::new();
    let mut offset = Some(0);
    while let Some(at) = offset {
        let body = server
            .get(&format!("/health/history?offset={at}"))
            .await
            .json();
        assert_eq!(body["components_total"], 1200);
        let page = body["components"].as_array().unwrap();
        assert!(page.len() <= 500);
        seen.extend(page.iter().map(|c| c["name"].as_str().unwrap().to_owned()));
        offset = body["next_offset"].as_u64().map(|n| n as usize);
    }
    assert_eq!(seen.len(), 1200);
    assert_eq!(seen[1199], "dependency-1199");
}

#[tokio::test]
async fn template_text_in_a_component_is_shown_as_text_on_the_dashboard() {
    let checker = HealthChecker::builder()
        .register(
            Check::new("{{config}}", || async {
                Err::<(), _>("{{status}} {{components}}")
            })
            .retries(0),
        )
        .build()
        .unwrap();
    let server = common::serve(HealthLayer::new(checker).details(DetailPolicy::Always)).await;
    server.get("/health").await;
    let page = server.get("/health/dashboard").await;
    let html = String::from_utf8(page.body.to_vec()).unwrap();
    assert!(
        html.contains("data-name=\"{{config}}\""),
        "the name, not the paths"
    );
    assert!(
        html.contains("{{status}} {{components}}"),
        "the message as it is"
    );
    assert_eq!(html.matches("\"incidents\":").count(), 1, "the paths once");
}

/// A hyper server with `HealthLayer` outside a `ConcurrencyLimit(1)` app whose `/slow` waits
/// for `release`.
async fn limited_app(release: Arc<Notify>, entered: Arc<Notify>) -> std::net::SocketAddr {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::server::conn::auto;
    use hyper_util::service::TowerToHyperService;
    use tower::ServiceBuilder;
    use tower::limit::ConcurrencyLimitLayer;

    let checker = HealthChecker::builder()
        .check("db", || async {})
        .build()
        .unwrap();
    let router = Router::new().route("/", get(|| async { "home" })).route(
        "/slow",
        get(move || {
            let (release, entered) = (release.clone(), entered.clone());
            async move {
                entered.notify_one();
                release.notified().await;
                "slow"
            }
        }),
    );
    let service = ServiceBuilder::new()
        .layer(HealthLayer::new(checker))
        .layer(ConcurrencyLimitLayer::new(1))
        .service(router);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let service = TowerToHyperService::new(service.clone());
            tokio::spawn(async move {
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn probes_answer_while_a_concurrency_limited_app_holds_its_only_permit() {
    let (release, entered) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let addr = limited_app(release.clone(), entered.clone()).await;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let url = |path: &str| format!("http://{addr}{path}");
    let slow = tokio::spawn(client.get(url("/slow")).send());
    entered.notified().await;
    // The app's one permit is held: the probes must not wait for it.
    for path in ["/health/live", "/health/ready"] {
        let started = Instant::now();
        let probe = tokio::time::timeout(Duration::from_secs(20), client.get(url(path)).send())
            .await
            .unwrap_or_else(|_| panic!("{path} waited behind the saturated app"))
            .unwrap();
        assert_eq!(probe.status(), 200, "{path}");
        eprintln!("{path} with the app saturated: {:?}", started.elapsed());
    }
    // An app request waits its turn, and is served once the permit is back.
    let queued = tokio::spawn(client.get(url("/")).send());
    tokio::task::yield_now().await;
    assert!(!slow.is_finished() && !queued.is_finished());
    release.notify_one();
    let slow = slow.await.unwrap().unwrap();
    assert_eq!(slow.text().await.unwrap(), "slow");
    let queued = queued.await.unwrap().unwrap();
    assert_eq!(queued.text().await.unwrap(), "home");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_that_blocks_its_thread_is_a_failure_and_probes_do_not_wait_for_it() {
    let (unblock, blocked) = std::sync::mpsc::channel::<()>();
    let blocked = Arc::new(parking_lot::Mutex::new(blocked));
    let checker = HealthChecker::builder()
        .register(
            Check::new("sleepy", || async {
                std::thread::sleep(Duration::from_millis(300));
            })
            .timeout(Duration::from_millis(100))
            .retries(0),
        )
        .register(
            Check::new("stuck", move || {
                let blocked = blocked.clone();
                async move {
                    // Blocks this runtime thread until the test lets it go.
                    let _ = blocked.lock().recv();
                }
            })
            .timeout(Duration::from_millis(100))
            .retries(0)
            .tag("stuck"),
        )
        .deadline(Duration::from_millis(400))
        .build()
        .unwrap();
    let layer = HealthLayer::new(checker.clone())
        .details(DetailPolicy::Always)
        .group(tower_vitals::health::HealthGroup::new(
            "stuck",
            tower_vitals::Selector::tagged("stuck"),
        ))
        .unwrap();
    let server = common::serve(layer).await;

    // Readiness answers while `stuck` blocks a worker: within its deadline, unknown.
    let ready = tokio::time::timeout(Duration::from_secs(20), server.get("/health/stuck"))
        .await
        .expect("the probe waited for the blocked check");
    assert_eq!(ready.status, 503);
    let live = server.get("/health/live").await;
    assert_eq!(live.status, 200);
    // Lets the blocked run go; later runs do not block (the sender is gone).
    unblock.send(()).unwrap();
    drop(unblock);

    // The check that slept 300 ms under a 100 ms timeout is a failure that says why.
    let report = checker
        .report_for(&tower_vitals::Selector::all().excluding("stuck"))
        .await;
    let sleepy = &report.components[0];
    assert_eq!(sleepy.status, HealthStatus::Unhealthy, "{sleepy:?}");
    let message = sleepy.message.as_deref().unwrap();
    assert!(
        message.contains("over its 100 ms timeout") && message.contains("blocks its thread"),
        "{message}"
    );
    // And the time it held the thread is on /metrics.
    let metrics = server.get("/metrics").await;
    let text = String::from_utf8(metrics.body.to_vec()).unwrap();
    let polled: f64 = text
        .lines()
        .find(|l| l.contains("health_check_poll_seconds_total{component=\"sleepy\"}"))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no poll time for sleepy in:\n{text}"));
    assert!(polled >= 0.3, "{polled}");
}

/// Resident memory of process `pid`, in bytes (Linux).
fn rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// The axum example (as built beside this test, or `HOSTILE_EXAMPLE`: CI's build with
/// `panic = "abort"`, where any panic ends the process) under `HOSTILE_REQUESTS` hostile
/// requests (default 2 000; CI 10 000): every one answered 200, 400 or 404 with a bounded body,
/// no panic in its output, the process alive and its memory flat.
#[tokio::test]
async fn the_example_answers_hostile_queries_without_a_panic_or_growth() {
    // A relative HOSTILE_EXAMPLE is from the repository's root (this suite runs in suite/).
    let binary = std::env::var_os("HOSTILE_EXAMPLE").map_or_else(example::binary, |path| {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(path)
    });
    let count: usize = std::env::var("HOSTILE_REQUESTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2_000);
    let (mut guard, base, output) = example::start_binary(&binary, &[]);
    let pid = guard.0.id();
    let client = reqwest::Client::new();
    let mut paths: Vec<String> = HOSTILE
        .iter()
        .flat_map(|q| {
            ["/health/history", "/health/incidents"].map(|endpoint| format!("{endpoint}?{q}"))
        })
        .collect();
    paths.extend(
        [
            "/health?exclude=%FF&include=x,,y",
            "/health/%ZZ",
            "/health/history?component=database&since=-100y&step=1ns",
            "/health/history?component=database&since=-24h&step=1s",
            "/health/dashboard",
        ]
        .map(str::to_owned),
    );
    let (mut slowest, mut before, mut largest) = (Duration::ZERO, None, 0);
    for i in 0..count {
        if i == count / 10 {
            before = rss(pid); // after the warm-up
        }
        let path = &paths[i % paths.len()];
        let started = Instant::now();
        let response = client.get(format!("{base}{path}")).send().await;
        let response = response.unwrap_or_else(|e| panic!("{path}: no answer ({e})"));
        let status = response.status().as_u16();
        let body = response.bytes().await.unwrap();
        slowest = slowest.max(started.elapsed());
        largest = largest.max(body.len());
        assert!([200, 400, 404].contains(&status), "{path}: {status}");
        assert!(body.len() <= 8 << 20, "{path}: {} bytes", body.len());
    }
    assert!(guard.0.try_wait().unwrap().is_none(), "the example is gone");
    let after = rss(pid);
    let panicked: Vec<String> = output
        .lock()
        .unwrap()
        .iter()
        .filter(|line| line.contains("panicked"))
        .cloned()
        .collect();
    assert!(panicked.is_empty(), "{panicked:?}");
    if let (Some(before), Some(after)) = (before, after) {
        let growth = after.saturating_sub(before);
        eprintln!(
            "{count} hostile requests to {}: slowest {slowest:?}, largest body {largest} bytes, RSS {:.1} -> {:.1} MB",
            binary.display(),
            before as f64 / 1e6,
            after as f64 / 1e6
        );
        assert!(growth < 64 << 20, "RSS grew by {growth} bytes");
    }
}

#[tokio::test(start_paused = true)]
async fn a_long_incident_beside_a_flapping_one_keeps_its_start_and_worst() {
    use std::sync::atomic::{AtomicU32, Ordering};
    use tower::{Layer, ServiceExt};
    let (db_runs, cache_runs) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
    let (db, cache) = (db_runs.clone(), cache_runs.clone());
    let checker = HealthChecker::builder()
        .register(
            Check::new("db", move || {
                let first = db.fetch_add(1, Ordering::SeqCst) == 0;
                async move {
                    if first {
                        tower_vitals::CheckResult::degraded("slow")
                    } else {
                        tower_vitals::CheckResult::unhealthy("refused")
                    }
                }
            })
            .retries(0),
        )
        .register(
            Check::new("cache", move || {
                let n = cache.fetch_add(1, Ordering::SeqCst);
                async move { if n % 2 == 1 { Err("timeout") } else { Ok(()) } }
            })
            .retries(0),
        )
        .cache_ttl(Duration::ZERO)
        .incident_log(200)
        .build()
        .unwrap();
    let started = checker.now();
    // 1 000 reports 10 s apart: the cache flaps 500 times, far past the 200 incidents kept.
    for _ in 0..1000 {
        checker.report().await;
        tokio::task::yield_now().await;
        tokio::time::advance(Duration::from_secs(10)).await;
    }
    let app = tower::service_fn(|_: http::Request<String>| async {
        Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
    });
    let service = HealthLayer::new(checker.clone())
        .details(DetailPolicy::Always)
        .layer(app);
    let request = http::Request::get("/health/incidents?component=db&since=-24h")
        .body(String::new())
        .unwrap();
    let response = service.oneshot(request).await.unwrap();
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let incidents = body["incidents"].as_array().unwrap();
    assert_eq!(incidents.len(), 1, "{body}");
    let db = &incidents[0];
    assert_eq!(
        db["from"],
        serde_json::Value::Null,
        "the first result: {db}"
    );
    assert_eq!(
        (db["to"].as_str(), db["worst"].as_str()),
        (Some("degraded"), Some("unhealthy"))
    );
    assert!(db["end"].is_null(), "still open");
    let start = humantime::parse_rfc3339(db["start"].as_str().unwrap()).unwrap();
    let off = start
        .duration_since(started)
        .unwrap_or_else(|e| e.duration());
    assert!(off < Duration::from_secs(1), "its true start: {off:?} off");
    assert_eq!(db["runs"], db_runs.load(Ordering::SeqCst));
    let cache = checker.incidents(Some("cache"), started);
    let closed = cache.iter().filter(|i| i.end.is_some()).count();
    assert_eq!(
        closed,
        200,
        "the newest closed ones (and the open one: {})",
        cache.len()
    );
}

#[tokio::test]
async fn a_recovery_is_seen_by_the_first_readiness_probe_after_it() {
    // A real dependency on loopback: a TCP listener that goes away and comes back.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let checker = HealthChecker::builder()
        .register(
            Check::new("db", move || async move {
                tokio::net::TcpStream::connect(addr).await.map(drop)
            })
            .timeout(Duration::from_millis(500))
            .retries(0),
        )
        .cache_ttl(Duration::from_millis(200))
        .build()
        .unwrap();
    let server = common::serve(HealthLayer::new(checker)).await;
    assert_eq!(server.get("/health/ready").await.status, 200);
    drop(listener);
    // Down: seen within a few probes (the healthy result may be served once while refreshed).
    let mut answers = Vec::new();
    while answers.last() != Some(&503) && answers.len() < 50 {
        tokio::time::sleep(Duration::from_millis(250)).await; // past the TTL
        answers.push(server.get("/health/ready").await.status);
    }
    assert_eq!(answers.last(), Some(&503), "{answers:?}");
    tokio::time::sleep(Duration::from_millis(250)).await; // the failure's TTL runs out
    let _listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    // Back: the first probe after the TTL waits for the refresh instead of the stale 503.
    assert_eq!(server.get("/health/ready").await.status, 200);
}
