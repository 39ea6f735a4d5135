//! A step of the wall clock under a running example (libfaketime, the monotonic clock left
//! alone): `/health` and `/health/incidents` date the same event alike before and after steps
//! of −3 h and +5 h, each step is logged once, and the times shown follow the new wall clock.
//! CI installs Debian's `libfaketime` and sets REQUIRE_FAKETIME=1; elsewhere the test is
//! skipped without it.
#![cfg(all(target_os = "linux", feature = "axum"))]

#[path = "support/example.rs"]
mod example;
#[path = "support/skip.rs"]
mod skip;

use std::path::Path;
use std::time::{Duration, SystemTime};

const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

/// `database`'s shown-since in `/health` and its open incident's start in `/health/incidents`.
async fn both_dates(client: &reqwest::Client, base: &str) -> (SystemTime, SystemTime) {
    let get = |path: &str| {
        let url = format!("{base}{path}");
        async move {
            let body = client.get(url).send().await.unwrap().text().await.unwrap();
            serde_json::from_str::<serde_json::Value>(&body).unwrap()
        }
    };
    let report = get("/health").await;
    let component = report["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "database")
        .unwrap()
        .clone();
    let incidents = get("/health/incidents?component=database").await;
    let incident = incidents["incidents"]
        .as_array()
        .unwrap()
        .last()
        .unwrap_or_else(|| panic!("no incident in {incidents}"))
        .clone();
    let time = |v: &serde_json::Value| humantime::parse_rfc3339(v.as_str().unwrap()).unwrap();
    (time(&component["since"]), time(&incident["start"]))
}

fn apart(a: SystemTime, b: SystemTime) -> Duration {
    a.duration_since(b).unwrap_or_else(|e| e.duration())
}

#[tokio::test]
async fn after_steps_of_the_wall_clock_every_endpoint_dates_an_event_alike() {
    if !Path::new(LIBFAKETIME).exists() {
        skip::unavailable(
            "libfaketime",
            "REQUIRE_FAKETIME",
            &format!("{LIBFAKETIME} not found"),
        );
        return;
    }
    let dir = std::env::temp_dir().join(format!("tower-vitals-clock-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let offset = dir.join("offset");
    std::fs::write(&offset, "+0\n").unwrap();
    let offset_path = offset.to_str().unwrap();
    let (_guard, base, output) = example::start_binary(
        &example::binary(),
        &[
            ("LD_PRELOAD", LIBFAKETIME),
            ("FAKETIME_TIMESTAMP_FILE", offset_path),
            ("FAKETIME_NO_CACHE", "1"),
            ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
        ],
    );
    let client = reqwest::Client::new();
    client
        .post(format!("{base}/demo/outage"))
        .send()
        .await
        .unwrap();
    // The database check fails within a few probes.
    let mut down = false;
    for _ in 0..50 {
        let ready = client
            .get(format!("{base}/health/ready"))
            .send()
            .await
            .unwrap();
        if ready.status() == 503 {
            down = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(down, "the stand-in database's outage was not seen");

    let (since, start) = both_dates(&client, &base).await;
    assert!(
        apart(since, start) < Duration::from_secs(1),
        "{since:?} / {start:?}"
    );
    let mut previous = start;
    for (step, hours) in [("-3h", -3i64), ("+2h", 5)] {
        std::fs::write(&offset, format!("{step}\n")).unwrap();
        let (since, start) = both_dates(&client, &base).await;
        assert!(
            apart(since, start) < Duration::from_secs(1),
            "after {step}: /health says {since:?}, the incident {start:?}"
        );
        // The same event, dated on the stepped clock.
        let moved = apart(start, previous).as_secs_f64();
        let expected = (hours.unsigned_abs() * 3600) as f64;
        assert!(
            (moved - expected).abs() < 60.0,
            "moved {moved} s after {step}"
        );
        assert_eq!(start > previous, hours > 0, "{step}");
        previous = start;
    }
    let logged = output
        .lock()
        .unwrap()
        .iter()
        .filter(|line| line.contains("the wall clock stepped"))
        .count();
    assert_eq!(logged, 2, "one line per step");
    let _ = std::fs::remove_dir_all(&dir);
}
