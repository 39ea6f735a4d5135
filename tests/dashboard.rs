//! The dashboard in a real browser: headless Chromium loads the running axum example's, its
//! script runs and reads the other endpoints, and after the example's stand-in database is
//! closed the DOM shows the component failed, its timeline and the incident. A screenshot is saved as `dashboard.png` in the target directory. CI installs
//! Debian's `chromium` and sets REQUIRE_CHROMIUM=1; elsewhere the test is skipped without it.
#![cfg(all(unix, feature = "axum"))]

#[path = "support/chromium.rs"]
mod chromium;
#[path = "support/example.rs"]
mod example;
#[path = "support/skip.rs"]
mod skip;

use std::path::PathBuf;
use std::time::Duration;

use chromium::{browse, chromium};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_examples_dashboard_shows_a_failed_component_and_its_incident_in_a_browser() {
    let Some(browser) = chromium() else { return };
    let (_example, base) = example::start(&[]);
    let client = reqwest::Client::new();
    let get = |path: &str| client.get(format!("{base}{path}")).send();
    for _ in 0..5 {
        get("/").await.unwrap();
    }
    assert_eq!(get("/health/ready").await.unwrap().status(), 200);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // The example's outage switch closes its stand-in database: the check's connect is refused.
    let outage = client
        .post(format!("{base}/demo/outage"))
        .send()
        .await
        .unwrap();
    assert_eq!(outage.status(), 200);
    let mut ready = 200;
    for _ in 0..50 {
        ready = get("/health/ready").await.unwrap().status().as_u16();
        if ready == 503 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(ready, 503, "the database check failed");

    let url = format!("{base}/health/dashboard");
    let dom = browse(&browser, &url, &["--dump-dom"]).await;
    assert!(
        dom.contains("data-rendered=\"script\""),
        "the script ran:\n{dom}"
    );
    assert!(
        dom.contains("class=\"component\" data-name=\"database\" data-status=\"unhealthy\""),
        "{dom}"
    );
    assert!(
        dom.contains("class=\"component\" data-name=\"job-queue\" data-status=\"healthy\""),
        "{dom}"
    );
    assert!(
        dom.contains("data-status=\"unhealthy\"><title>"),
        "the timeline shows the failure: {dom}"
    );
    assert!(
        dom.contains("class=\"incident\" data-component=\"database\" data-open=\"true\""),
        "{dom}"
    );
    assert!(dom.contains("Connection refused"), "the reason");
    // Charts with their units and axes, headed by what they draw (the latest and the peak).
    assert!(
        dom.contains("Requests (req/s)"),
        "the traffic charts: {dom}"
    );
    assert!(
        dom.contains("class=\"y-axis\"") && dom.contains("class=\"x-axis muted\""),
        "axes"
    );
    assert!(
        dom.contains(", peak "),
        "the peak beside the latest value: {dom}"
    );
    // The example started moments ago: its availability is over the minutes observed, not an
    // hour, and says so.
    assert!(
        dom.contains(" observed)"),
        "availability over the observed time: {dom}"
    );

    // The day view: the same page over 24 h at 1 min intervals.
    let day = browse(&browser, &format!("{url}?range=day"), &["--dump-dom"]).await;
    assert!(
        day.contains("data-range=\"day\"") && day.contains(">Last day</th>"),
        "{day}"
    );
    assert!(day.contains("data-status=\"unhealthy\"><title>"), "{day}");

    // In the target directory this test runs from (`CARGO_TARGET_DIR` or `target/`), which
    // exists wherever cargo put it.
    let shot = std::env::current_exe()
        .unwrap()
        .ancestors()
        .nth(3)
        .map_or_else(std::env::temp_dir, PathBuf::from)
        .join("dashboard.png");
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
