//! Headless Chromium for the dashboard tests: found on `PATH` or the test is skipped (and
//! says so; a failure under `REQUIRE_CHROMIUM`).
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use tokio::process::Command;

use super::skip;

/// The browser, or `None` (then the test is skipped, unless REQUIRE_CHROMIUM is set).
pub(crate) fn chromium() -> Option<PathBuf> {
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
        skip::unavailable(
            "Chromium",
            "REQUIRE_CHROMIUM",
            "none of chromium, chromium-browser, google-chrome on PATH",
        );
    }
    found
}

/// Chromium, headless, on `url` with `args`, its scripts given 8 s of (virtual) time.
pub(crate) async fn browse(browser: &PathBuf, url: &str, args: &[&str]) -> String {
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
