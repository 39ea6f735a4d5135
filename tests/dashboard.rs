//! The dashboard in a real browser: headless Chromium loads it from a real server, its script
//! runs and reads the other endpoints, and the DOM shows the component that failed, its
//! timeline and the incident. A screenshot is saved as `target/dashboard.png`. CI installs
//! Debian's `chromium` and sets REQUIRE_CHROMIUM=1; elsewhere the test is skipped without it.
#![cfg(feature = "axum")]

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::process::Command;
use tower_vitals::health::DetailPolicy;
use tower_vitals::{
    Check, CheckResult, HealthChecker, HealthLayer, MetricsCollector, MetricsLayer,
    TimelineSettings,
};

/// The browser, or `None` (then the test is skipped, unless REQUIRE_CHROMIUM is set).
fn chromium() -> Option<PathBuf> {
    let found = ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|dir| dir.join(name))
                    .find(|path| path.is_file())
            })
        });
    if found.is_none() {
        assert!(
            std::env::var_os("REQUIRE_CHROMIUM").is_none(),
            "Chromium is required here"
        );
        eprintln!("chromium not installed: skipping the browser test");
    }
    found
}

/// Chromium, headless, on `url` with `args`, its scripts given 8 s of (virtual) time.
async fn browse(browser: &PathBuf, url: &str, args: &[&str]) -> String {
    let run = Command::new(browser)
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--virtual-time-budget=8000",
        ])
        .args(args)
        .arg(url)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(90), run)
        .await
        .expect("chromium finished within 90 s")
        .expect("chromium started");
    assert!(
        output.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_a_failed_component_and_its_incident_in_a_browser() {
    let Some(browser) = chromium() else { return };
    let up = Arc::new(AtomicBool::new(true));
    let flag = up.clone();
    let second = Duration::from_secs(1);
    let checker = HealthChecker::builder()
        .register(
            Check::new("db", move || {
                let up = flag.load(Ordering::SeqCst);
                async move {
                    if up {
                        CheckResult::healthy()
                    } else {
                        CheckResult::unhealthy("connection refused")
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
        .unwrap();
    let collector = MetricsCollector::new();
    let app = axum::Router::new()
        .route("/", axum::routing::get(|| async { "home" }))
        .layer(MetricsLayer::new(collector.clone()));
    let health = HealthLayer::new(checker)
        .metrics(collector)
        .details(DetailPolicy::Always);
    let server =
        common::serve_router(axum::Router::new().fallback_service(health.around(app))).await;
    for _ in 0..5 {
        server.get("/").await;
    }
    assert_eq!(server.get("/health/ready").await.status, 200);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    up.store(false, Ordering::SeqCst);
    assert_eq!(server.get("/health/ready").await.status, 503);

    let url = server.url("/health/dashboard");
    let dom = browse(&browser, &url, &["--dump-dom"]).await;
    assert!(
        dom.contains("data-rendered=\"script\""),
        "the script ran:\n{dom}"
    );
    assert!(
        dom.contains("class=\"component\" data-name=\"db\" data-status=\"unhealthy\""),
        "{dom}"
    );
    assert!(
        dom.contains("class=\"component\" data-name=\"cache\" data-status=\"healthy\""),
        "{dom}"
    );
    assert!(
        dom.contains("data-status=\"unhealthy\"><title>"),
        "the timeline shows the failure: {dom}"
    );
    assert!(
        dom.contains("class=\"incident\" data-component=\"db\" data-open=\"true\""),
        "{dom}"
    );
    assert!(dom.contains("connection refused"), "the reason");
    assert!(dom.contains("Requests per second"), "the traffic charts");

    let shot = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/dashboard.png");
    let _ = std::fs::remove_file(&shot);
    let argument = format!("--screenshot={}", shot.display());
    browse(&browser, &url, &[&argument, "--window-size=1280,1100"]).await;
    let bytes = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
    assert!(
        bytes > 10_000,
        "a screenshot in {}: {bytes} bytes",
        shot.display()
    );
    println!("screenshot: {} ({bytes} bytes)", shot.display());
}
